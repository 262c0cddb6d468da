"""The seed-002 profile live in the bot: fault levels drive the response timers, the
engineer corrects the level, complaints are tracked with their 2 h and 15-day clocks;
and what the bot stores is what ``aftersales check --db --policy seed002`` judges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from bot.timers import FIRED
from compliance.calendar import SHANGHAI
from compliance.dbsource import load_sessions
from compliance.policy import Policy, load_policy
from storage.db import make_engine
from tests.bot.conftest import Bot, start_bot
from tests.support import FakeClock, findings_of


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def seed002() -> Policy:
    return load_policy("seed002")


@pytest.fixture
async def bot002(
    aiohttp_client: Any, seed002: Policy, db_url: str, clock: FakeClock
) -> AsyncIterator[Bot]:
    yield await start_bot(aiohttp_client, seed002, db_url, clock)


async def run(bot: Bot) -> list[tuple[str, str]]:
    fired = await bot.services.scheduler.run_due()
    assert all(f.status == FIRED for f in fired), fired
    return [(f.kind, f.detail or "") for f in fired]


def reminders(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["data"]["to"], r["data"]["reason"]) for r in detail["reminders"]]


async def test_a_level_one_fault_gets_its_30_minute_response_clock(bot002: Bot) -> None:
    visitor = await bot002.visitor()
    number = (await bot002.say(visitor, "服务器开不了机了"))["ticket"]
    detail = await bot002.ticket(number)
    assert detail["fault_level"] == "L1"
    assert detail["deadlines"]["fault_response_due"] == "2026-11-23T10:30:00+08:00"
    bot002.clock.set(at(23, 10, 31))
    fired = dict(await run(bot002))
    assert fired["fault_response_due"] == "reminded 1818,9001"
    detail = await bot002.ticket(number)
    overdue = [r for r in detail["reminders"] if r["data"]["reason"] == "fault_response_overdue"]
    assert [(r["data"]["to"], r["data"]["level_name"]) for r in overdue] == [
        ("1818", "一级故障"),
        ("9001", "一级故障"),
    ]


async def test_an_engineer_in_touch_in_time_stops_the_clock(bot002: Bot) -> None:
    visitor = await bot002.visitor()
    number = (await bot002.say(visitor, "请问RAID怎么配置"))["ticket"]
    detail = await bot002.ticket(number)
    assert detail["fault_level"] == "CONSULT"
    assert detail["deadlines"]["fault_response_due"] == "2026-11-23T12:00:00+08:00"
    await bot002.act(number, "accept")
    await bot002.act(number, "messages", text="您好，RAID在BIOS的阵列卡界面配置")
    bot002.clock.set(at(23, 12, 1))
    assert ("fault_response_due", "answered in time") in await run(bot002)
    assert "fault_response_overdue" not in {r for _to, r in reminders(await bot002.ticket(number))}


async def test_the_engineer_changes_the_level_and_the_clocks_follow(bot002: Bot) -> None:
    visitor = await bot002.visitor()
    number = (await bot002.say(visitor, "服务器开不了机了"))["ticket"]
    await bot002.act(number, "accept")
    refused = await bot002.act(number, "fault-level", status=400, level="L9", reason="x")
    assert (refused["error"], refused["field"]) == ("bad_field", "level")
    missing = await bot002.act(number, "fault-level", status=400, level="L3")
    assert missing["field"] == "reason"
    changed = await bot002.act(number, "fault-level", level="L3", reason="只是部分业务变慢")
    assert changed["events"] == ["fault_level_changed"]
    assert changed["fault_level"]["to_name"] == "三级故障"
    detail = await bot002.ticket(number)
    assert detail["fault_level"] == "L3"
    assert detail["deadlines"]["fault_response_due"] == "2026-11-23T12:00:00+08:00"
    event = next(e for e in detail["events"] if e["event"] == "fault_level_changed")
    assert (event["actor"], event["data"]["from"], event["data"]["reason"]) == (
        "1818",
        "L1",
        "只是部分业务变慢",
    )
    # The remote-response clock starts with the backup warning, at the level's time.
    await bot002.act(number, "backup-warning")
    detail = await bot002.ticket(number)
    assert detail["deadlines"]["remote_response_due"] == "2026-11-23T12:00:00+08:00"
    await bot002.act(number, "fault-level", level="L2", reason="发现硬盘告警")
    detail = await bot002.ticket(number)
    assert detail["deadlines"]["remote_response_due"] == "2026-11-23T10:30:00+08:00"
    bot002.clock.set(at(23, 10, 31))
    assert ("remote_response_due", "reminded 1818,9001") in await run(bot002)
    # What the checker reads: ticket_opened carries the level the ticket has now.
    engine = make_engine(bot002.services.settings.db_url)
    try:
        stored = load_sessions(engine)
    finally:
        engine.dispose()
    opened = next(
        line
        for session in stored.sessions
        if session.id == number
        for line in session.lines
        if line.event == "ticket_opened"
    )
    assert opened.fault_level == "二级"


async def test_a_complaint_is_tracked_with_its_clocks_and_judged(
    bot002: Bot, seed002: Policy
) -> None:
    visitor = await bot002.visitor()
    number = (await bot002.say(visitor, "服务器开不了机了"))["ticket"]
    await bot002.act(number, "accept")
    await bot002.act(number, "messages", text="您好，我来为您处理")
    bot002.clock.set(at(23, 10, 20))
    await bot002.say(visitor, "我要投诉，你们处理得太慢了")
    detail = await bot002.ticket(number)
    assert detail["state"]["complaint_open"] is True
    # From the complaint_opened event (stamped just after the customer's line).
    assert detail["deadlines"]["complaint_reply_due"].startswith("2026-11-23T12:20:00")
    assert detail["deadlines"]["complaint_resolve_due"].startswith("2026-12-08T10:20:00")
    assert ("9001", "complaint_opened") in reminders(detail)
    # A second complaint while one is open opens nothing new.
    await bot002.say(visitor, "再不处理我就投诉到消协")
    assert (await bot002.ticket(number))["state"]["complaints"] == 1
    bot002.clock.set(at(23, 12, 21))
    assert ("complaint_reply_due", "reminded 1818,9001") in await run(bot002)
    await bot002.act(number, "messages", text="张总，非常抱歉，处理意见如下")
    again = await bot002.act(number, "complaint", status=409, action="open")
    assert again["error"] == "complaint_open"
    done = await bot002.act(number, "complaint", action="resolve", note="已更换硬盘，客户满意")
    assert done["events"] == ["complaint_resolved"]
    detail = await bot002.ticket(number)
    assert detail["state"]["complaint_open"] is False
    assert "complaint_resolve_due" not in detail["deadlines"]
    # The stored transcript carries the complaint: SLA006 under seed 002 (2 h 1 min).
    findings = [f for f in findings_of(bot002.services.settings.db_url, seed002)]
    late = [f for f in findings if f.rule == "SLA006" and f.session == number]
    assert len(late) == 1 and "投诉响应时限2小时" in late[0].message
    assert not [f for f in findings if f.rule == "SLA001" and f.session == number]


async def test_the_default_profile_tracks_complaints_without_clocks(bot: Bot) -> None:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "我要投诉，服务器坏了三天没人管"))["ticket"]
    detail = await bot.ticket(number)
    assert detail["state"]["complaint_open"] is True
    assert not {"complaint_reply_due", "complaint_resolve_due", "fault_response_due"} & set(
        detail["deadlines"]
    )
    phoned = await bot.act(number, "complaint", status=409, action="open", note="电话投诉")
    assert phoned["error"] == "complaint_open"


async def test_moving_a_ticket_to_the_intermittent_level_asks_72_hours_of_stable_running(
    bot: Bot,
) -> None:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "服务器开不了机了"))["ticket"]
    assert (await bot.ticket(number))["intermittent"] is False
    await bot.act(number, "accept")
    await bot.act(number, "fault-level", level="L4", reason="重启后正常，偶发宕机")
    detail = await bot.ticket(number)
    assert (detail["fault_level"], detail["intermittent"]) == ("L4", True)
    # The 朴赛 default times nothing by level.
    assert "fault_response_due" not in detail["deadlines"]
    same = await bot.act(number, "fault-level", status=409, level="L4", reason="再次确认")
    assert same["error"] == "same_level"
