"""What the customer is told and who the customer is (issue 17.2, 17.3, 17.6 handover):
the ticket number, 查询工单, the honest out-of-hours notice, the greeting when a person
takes over, 张总 from the chat, one person across channels.  SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle.frontdesk import customer_facts
from compliance.calendar import SHANGHAI
from compliance.policy import load_policy
from tests.bot.conftest import Bot, start_bot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Monday 2026-11-23 22:00: outside 09:30–18:00 (and outside on-call 08:00–19:00).
MONDAY_NIGHT = datetime(2026, 11, 23, 22, 0, tzinfo=SHANGHAI)


def _agent(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in detail["messages"] if m["role"] == "agent"]


async def test_accepting_tells_the_ticket_number_and_the_customer_can_ask_for_it(
    bot: Bot,
) -> None:
    visitor = await bot.visitor()
    first = await bot.say(visitor, "服务器开不了机了")
    number = first["ticket"]
    accepted = await bot.act(number, "accept")
    assert [line["prompted_by"] for line in accepted["sent"]] == ["ticket_number"]
    assert f"工单号：{number}" in accepted["sent"][0]["text"]
    assert f"“查询工单 {number}”" in accepted["sent"][0]["text"]
    # Asked, the status comes back from the centre (no engineer typing), nothing opens.
    answer = await bot.say(visitor, f"查询工单 {number}")
    (status,) = answer["replies"]
    assert status["role"] == "system" and status["name"] == "朴赛售后服务中心"
    assert status["text"].startswith(
        f"工单{number}当前状态：处理中，由运维工程师张三（工号1818）跟进"
    )
    assert answer["ticket"] == number
    # A second accept-like step does not repeat the number.
    detail = await bot.ticket(number)
    assert [m["prompted_by"] for m in _agent(detail)].count("ticket_number") == 1


async def test_asking_about_a_closed_ticket_joins_it_and_another_persons_is_not_told(
    bot: Bot,
) -> None:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "服务器开不了机了"))["ticket"]
    await bot.act(number, "accept")
    await bot.act(
        number,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    bot.clock.advance(days=1)
    answer = await bot.say(visitor, f"查询工单{number}")
    assert answer["ticket"] == number
    assert "当前状态：已关闭" in answer["replies"][0]["text"]
    # Someone else's number: no status; the message is a new case of theirs.
    stranger = await bot.visitor()
    other = await bot.say(stranger, f"查询工单 {number}")
    assert other["ticket"] != number
    assert all("当前状态" not in r["text"] for r in other["replies"])


async def test_out_of_hours_the_centre_says_when_a_person_answers(bot: Bot) -> None:
    bot.clock.set(MONDAY_NIGHT)
    visitor = await bot.visitor()
    answer = await bot.say(visitor, "服务器开不了机了")
    number = answer["ticket"]
    (notice,) = answer["replies"]
    assert notice["role"] == "system" and notice["name"] == "朴赛售后服务中心"
    assert "工号" not in notice["text"]  # no engineer pretending to type
    assert f"已登记为工单{number}" in notice["text"]
    assert "将于11月24日（周二）09:30起回复您" in notice["text"]
    assert "400-000-1773" in notice["text"] and "休息日" not in notice["text"]
    # The engineer takes it in the morning: the greeting now, the number already told.
    bot.clock.set(datetime(2026, 11, 24, 9, 31, tzinfo=SHANGHAI))
    accepted = await bot.act(number, "accept")
    assert [line["prompted_by"] for line in accepted["sent"]] == ["greeting"]
    assert accepted["sent"][0]["text"].startswith(
        "您好，我是朴赛售后服务中心运维工程师张三，工号1818"
    )


async def test_saturday_night_points_to_the_emergency_path_for_the_rest_day(bot: Bot) -> None:
    # Saturday 2026-11-21 is a working day; its night's answer comes Sunday, a rest day.
    bot.clock.set(datetime(2026, 11, 21, 23, 0, tzinfo=SHANGHAI))
    visitor = await bot.visitor()
    (notice,) = (await bot.say(visitor, "RAID 卡报警"))["replies"]
    assert "11月22日（周日）09:30" in notice["text"]
    assert "休息日如遇紧急故障，请回复“紧急”" in notice["text"]


async def test_an_engineers_first_line_out_of_hours_comes_after_their_greeting(bot: Bot) -> None:
    bot.clock.set(MONDAY_NIGHT)
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "服务器开不了机了"))["ticket"]
    sent = await bot.act(number, "messages", text="您好，请问指示灯是什么颜色？")
    assert [line["prompted_by"] for line in sent["sent"]] == ["greeting", None]


async def test_reassignment_says_who_took_over_instead_of_a_second_greeting(bot: Bot) -> None:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "我是张总，服务器开不了机了"))["ticket"]
    moved = await bot.act(number, "reassign", staff_no="9001", to="2046")
    (line,) = moved["sent"]
    assert line["prompted_by"] == "handover"
    assert line["text"].startswith("已为张总转接至运维工程师李四（工号2046）")
    greetings = [m for m in _agent(await bot.ticket(number)) if m["prompted_by"] == "greeting"]
    assert len(greetings) == 1


async def test_the_customer_is_addressed_as_they_introduce_themselves(bot: Bot) -> None:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "我姓王，是老师，实验室的服务器开不了机"))["ticket"]
    detail = await bot.ticket(number)
    recorded = [e for e in detail["events"] if e["event"] == "customer_recorded"]
    assert recorded[0]["data"]["fields"] == ["surname", "title"]
    await bot.act(number, "accept")
    await bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    await bot.act(number, "resolve", ask_suggestion=False)
    survey = [
        m for m in _agent(await bot.ticket(number)) if m["prompted_by"] == "satisfaction_survey"
    ]
    assert survey[0]["text"].startswith("请问王老师对本次服务是否满意")


async def test_one_person_across_channels_by_phone_number_and_by_the_engineer(bot: Bot) -> None:
    first = await bot.visitor()
    old = (await bot.say(first, "服务器开不了机了，电话13800138000"))["ticket"]
    await bot.act(old, "accept")
    await bot.act(
        old,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    second = await bot.visitor()
    new = (await bot.say(second, "我的电话是13800138000，硬盘又报警了"))["ticket"]
    assert new != old
    linked = [e for e in (await bot.ticket(new))["events"] if e["event"] == "customer_linked"]
    assert [e["data"]["by"] for e in linked] == ["phone"]
    # The engineer links a third identity by a ticket number of the same person.
    third = await bot.visitor()
    later = (await bot.say(third, "电源灯不亮"))["ticket"]
    done = await bot.act(
        later, "customer", staff_no="9001", link_ticket=old, surname="张", title="总"
    )
    assert done["events"] == ["customer_recorded", "customer_linked"]
    assert done["address"] == "张总"
    refused = await bot.act(
        later, "customer", staff_no="9001", link_ticket="PS-19990101-0001", status=400
    )
    assert refused["field"] == "link_ticket"
    bad = await bot.act(later, "customer", staff_no="9001", surname="你", status=400)
    assert bad["field"] == "surname"


async def test_the_around_the_clock_example_policy_greets_at_night(
    aiohttp_client: Any, db_url: str, clock: Any
) -> None:
    policy = load_policy(EXAMPLES / "around-the-clock.toml")
    night = await start_bot(aiohttp_client, policy, db_url, clock)
    night.clock.set(MONDAY_NIGHT)
    visitor = await night.visitor()
    (greeting,) = (await night.say(visitor, "服务器开不了机了"))["replies"]
    assert greeting["text"].startswith("您好，我是朴赛售后服务中心运维工程师")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("我是张总，服务器坏了", {"surname": "张", "title": "总"}),
        ("我姓王，是老师", {"surname": "王", "title": "老师"}),
        ("我是李工，电话：13912345678。", {"surname": "李", "title": "工", "phone": "13912345678"}),
        ("我姓李", {"surname": "李"}),
        ("我是总部的", {}),
        ("我是张三", {}),
        ("SN13912345678 的硬盘坏了", {}),  # a serial number, not a phone number
    ],
)
def test_what_a_customer_line_says_about_them(text: str, found: dict[str, str]) -> None:
    assert customer_facts(text) == found
