"""The solution record, the knowledge-base archive and full-text search, through the API,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import search
from tests.bot.conftest import Bot

RECORD = {
    "process": "检查发现电源模块松动，重新插拔并紧固后开机正常",
    "test_report": "开机自检通过，满载运行 2 小时无报错",
    "attachments": "电源模块.jpg\n自检日志.txt",
}


async def _open(bot: Bot, text: str) -> tuple[str, str, str]:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, text))["ticket"]
    staff = (await bot.ticket(number))["engineer"]["staff_no"]
    await bot.act(number, "accept", staff_no=staff)
    await bot.act(number, "messages", staff_no=staff, text="您好，我们来检查电源模块")
    return visitor, number, staff


async def _closed(bot: Bot, text: str, **record: Any) -> tuple[str, str]:
    _visitor, number, staff = await _open(bot, text)
    await bot.act(number, "close", staff_no=staff, **(record or RECORD))
    return number, staff


async def test_close_needs_the_solution_record_and_archive_files_it(bot: Bot) -> None:
    _visitor, number, staff = await _open(bot, "服务器无法开机，电源灯不亮")
    missing = await bot.act(number, "close", staff_no=staff, status=400)
    assert (missing["error"], missing["field"]) == ("solution_record_missing", "process")
    assert "处理过程" in missing["message"]
    no_report = await bot.act(
        number, "close", staff_no=staff, status=400, process=RECORD["process"]
    )
    assert (no_report["field"], "测试报告" in no_report["message"]) == ("test_report", True)
    assert (await bot.ticket(number))["status"] != "closed"
    closed = await bot.act(number, "close", staff_no=staff, **RECORD)
    assert closed["events"] == ["closed"]

    nowhere = await bot.act(
        number, "archive", staff_no=staff, status=400, duplicate_of="PS-20000101-9999"
    )
    assert (nowhere["error"], nowhere["field"]) == ("no_such_ticket", "duplicate_of")
    itself = await bot.act(number, "archive", staff_no=staff, status=400, duplicate_of=number)
    assert itself["error"] == "duplicate_of_itself"
    archived = await bot.act(number, "archive", staff_no=staff, problem="服务器无法开机")
    assert archived["events"] == ["archived"]

    record = await search.solution_record(bot.services.sessionmaker, number)
    assert record is not None
    assert (record["problem"], record["attachments"]) == (
        "服务器无法开机",
        ["电源模块.jpg", "自检日志.txt"],
    )
    assert record["archived_at"] is not None
    # Archived and closed, it is found: the solution, and the customer's line.
    found = await bot.api("GET", "/api/search?q=开机", staff)
    assert [s["number"] for s in found["solutions"]] == [number]
    assert number in {m["number"] for m in found["messages"]}
    assert "开机" in found["solutions"][0]["highlights"]
    # 紧固 is inside the process text only: jieba cut it out of the sentence.
    tightened = await bot.api("GET", "/api/search?q=紧固", staff)
    assert [s["number"] for s in tightened["solutions"]] == [number]


async def test_a_duplicate_links_only_to_an_archived_ticket(bot: Bot) -> None:
    original, staff = await _closed(bot, "RAID 卡报错，硬盘掉线")
    unnamed = await bot.act(original, "archive", staff_no=staff, status=400)
    assert (unnamed["error"], unnamed["field"]) == ("problem_missing", "problem")
    await bot.act(original, "archive", staff_no=staff, problem="RAID 卡报错导致硬盘掉线")
    _v, still_open, _s = await _open(bot, "RAID 卡又报错了")
    repeat, repeat_staff = await _closed(bot, "RAID 卡报错")
    refused = await bot.act(
        repeat, "archive", staff_no=repeat_staff, status=409, duplicate_of=still_open
    )
    assert (refused["error"], refused["field"]) == ("not_archived", "duplicate_of")
    linked = await bot.act(repeat, "archive", staff_no=repeat_staff, duplicate_of=original)
    assert (linked["events"], linked["duplicate_of"]) == (["archive_skipped_duplicate"], original)
    record = await search.solution_record(bot.services.sessionmaker, repeat)
    assert record is not None and record["duplicate_of"] == original
    # A duplicate is not filed a second time; nor may another link to it.
    found = await bot.api("GET", "/api/search?q=RAID", "9001")
    assert [s["number"] for s in found["solutions"]] == [original]
    again, again_staff = await _closed(bot, "RAID 卡报错第三次")
    chained = await bot.act(again, "archive", staff_no=again_staff, status=409, duplicate_of=repeat)
    assert chained["error"] == "not_archived"


async def test_a_new_ticket_shows_similar_archived_solutions(bot: Bot) -> None:
    fan, staff = await _closed(
        bot,
        "机房里服务器风扇噪音特别大",
        process="清理风扇灰尘，更换 3 号风扇",
        test_report="满载 2 小时风扇转速与噪音正常",
    )
    await bot.act(fan, "archive", staff_no=staff, problem="风扇噪音大")
    disk, staff = await _closed(bot, "硬盘指示灯红色闪烁")
    await bot.act(disk, "archive", staff_no=staff, problem="硬盘故障灯亮")
    _v, new, _s = await _open(bot, "你好，我们的服务器风扇声音很大，噪音吵得受不了")
    similar = await search.similar_solutions(bot.services.sessionmaker, bot.services.engine, new)
    assert [found.number for found in similar] == [fan]


async def test_api_q_honours_access_and_finds_closed_tickets(bot: Bot) -> None:
    mine, staff = await _closed(bot, "内存条报错，开机后蓝屏")
    other = "2046" if staff == "1818" else "1818"
    listed = await bot.api("GET", "/api/tickets?q=蓝屏", staff)
    assert [t["number"] for t in listed["tickets"]] == [mine]
    assert (await bot.api("GET", "/api/tickets?q=蓝屏&status=closed", staff))["tickets"]
    assert (await bot.api("GET", "/api/tickets?q=键盘", staff))["tickets"] == []
    # Another engineer does not find it (the console would not show it either) …
    assert (await bot.api("GET", "/api/tickets?q=蓝屏", other))["tickets"] == []
    assert (await bot.api("GET", "/api/search?q=蓝屏", other))["messages"] == []
    # … until it is in the knowledge base, which everyone shares.
    await bot.act(mine, "archive", staff_no=staff, problem="内存报错导致蓝屏")
    shared = await bot.api("GET", "/api/search?q=蓝屏", other)
    assert ([s["number"] for s in shared["solutions"]], shared["messages"]) == ([mine], [])
    # QA and managers find everything.
    assert [
        t["number"] for t in (await bot.api("GET", "/api/tickets?q=蓝屏", "7001"))["tickets"]
    ] == [mine]
    blank = await bot.api("GET", "/api/search?q=", "9001", status=400)
    assert blank["field"] == "q"


async def test_a_forgotten_customer_is_not_found(bot: Bot) -> None:
    visitor, number, staff = await _open(bot, "我是王小明，电话 13912345678，阵列卡告警")
    assert (await bot.api("GET", "/api/search?q=阵列卡告警", "9001"))["messages"]
    await bot.say(visitor, "另外机箱有异响")
    await bot.act(number, "messages", staff_no=staff, text="我们检查一下机箱")
    await bot.act(
        number,
        "close",
        staff_no=staff,
        process="致电王小明（13912345678）确认后更换阵列卡",
        test_report="阵列重建完成，无告警",
    )
    await bot.act(number, "archive", staff_no=staff, problem="阵列卡告警")
    assert (await bot.api("GET", "/api/search?q=13912345678", "9001"))["solutions"]
    forgotten = await bot.services.tickets.forget_ticket_customer(number, "9001")
    assert forgotten is not None and forgotten.tickets == (number,)
    for words in ("阵列卡告警", "13912345678", "王小明", "异响"):
        found = await bot.api("GET", f"/api/search?q={words}", "9001")
        assert found["messages"] == [], words
    # The archived solution is the engineer's words: their digits are starred (a name only
    # when the customer was known by it, as in engineers' lines).
    assert (await bot.api("GET", "/api/search?q=13912345678", "9001"))["solutions"] == []
    # The archived solution stays, the customer's number and name starred.
    kept = await bot.api("GET", "/api/search?q=更换阵列卡", "9001")
    assert [s["number"] for s in kept["solutions"]] == [number]
    assert "13912345678" not in kept["solutions"][0]["snippet"]
    # Rebuilding the index does not bring them back.
    assert await search.reindex(bot.services.engine) > 0
    assert (await bot.api("GET", "/api/search?q=异响", "9001"))["messages"] == []
    assert (await bot.api("GET", "/api/search?q=机箱", "9001"))["messages"]


async def test_a_ticket_closed_without_a_record_is_archived_with_one(bot: Bot) -> None:
    _visitor, number, staff = await _open(bot, "网卡灯不亮")
    # Forgetting the customer closes the ticket with no engineer's record.
    await bot.services.tickets.forget_ticket_customer(number, "9001")
    missing = await bot.act(number, "archive", staff_no=staff, status=400, problem="网卡不亮")
    assert (missing["error"], missing["field"]) == ("solution_record_missing", "process")
    archived = await bot.act(
        number,
        "archive",
        staff_no=staff,
        problem="网卡指示灯不亮",
        process="更换网线后恢复",
        test_report="连续 ping 1 小时无丢包",
    )
    assert archived["events"] == ["archived"]
    found = await bot.api("GET", "/api/search?q=网卡", "9001")
    assert [s["number"] for s in found["solutions"]] == [number]


async def test_retention_masking_reaches_the_index(bot: Bot) -> None:
    _visitor, number, staff = await _open(bot, "联系电话 13800001234，风扇异响")
    await bot.act(number, "close", staff_no=staff, **RECORD)
    assert (await bot.api("GET", "/api/search?q=13800001234", "9001"))["messages"]
    bot.clock.advance(days=400)
    assert await bot.services.tickets.mask_expired(365) == [number]
    assert (await bot.api("GET", "/api/search?q=13800001234", "9001"))["messages"] == []
    masked = await bot.api("GET", "/api/search?q=风扇异响", "9001")
    assert [m["number"] for m in masked["messages"]] == [number]
    assert "13800001234" not in masked["messages"][0]["snippet"]
