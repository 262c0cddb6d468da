"""SLA timers: deadlines from the policy and the calendar, fired as the test moves time."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.timers import FAILED, FIRED, MAX_ATTEMPTS, Scheduler, schedule
from compliance.calendar import SHANGHAI
from compliance.policy import Policy
from storage.models import Timer, TimerStatus
from tests.bot.conftest import SUNDAY_11, Bot
from tests.support import findings_of


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


async def open_ticket(bot: Bot, text: str = "服务器开不了机了") -> tuple[str, str]:
    visitor = await bot.visitor()
    return visitor, (await bot.say(visitor, text))["ticket"]


async def run(bot: Bot) -> list[tuple[str, str]]:
    """Fire what is due at the bot's clock; (kind, outcome) of each."""
    fired = await bot.services.scheduler.run_due()
    assert all(f.status == FIRED for f in fired), fired
    return [(f.kind, f.detail or "") for f in fired]


def reminders(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["data"]["to"], r["data"]["reason"]) for r in detail["reminders"]]


async def test_accept_reminds_engineer_then_manager(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    deadlines = (await sqlite_bot.ticket(number))["deadlines"]
    assert deadlines["accept_engineer"] == "2026-11-23T10:05:00+08:00"
    assert deadlines["accept_manager"] == "2026-11-23T10:15:00+08:00"
    sqlite_bot.clock.set(at(23, 10, 4, 59))
    assert await run(sqlite_bot) == []
    sqlite_bot.clock.set(at(23, 10, 5))
    assert await run(sqlite_bot) == [("accept_engineer", "reminded 1818")]
    assert await run(sqlite_bot) == []  # fired once
    sqlite_bot.clock.set(at(23, 10, 15))
    assert await run(sqlite_bot) == [("accept_manager", "reminded 9001")]
    detail = await sqlite_bot.ticket(number)
    assert reminders(detail) == [("1818", "accept_overdue"), ("9001", "accept_overdue")]
    mine = await sqlite_bot.api("GET", "/api/reminders", staff_no="1818")
    assert [(r["ticket"], r["data"]["reason"]) for r in mine["reminders"]] == [
        (number, "accept_overdue")
    ]
    assert mine["reminders"][0]["label"] == "工单超时未受理"


async def test_accept_in_time_cancels_the_reminders(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    sqlite_bot.clock.advance(minutes=2)
    await sqlite_bot.act(number, "accept")
    sqlite_bot.clock.advance(minutes=30)
    assert await run(sqlite_bot) == []


async def test_accept_limit_counts_attended_time_and_rest_days(sqlite_bot: Bot) -> None:
    sqlite_bot.clock.set(at(23, 17, 58))
    _v1, late = await open_ticket(sqlite_bot)
    # 2 attended minutes on Monday, 3 after Tuesday's 09:30 opening.
    assert (await sqlite_bot.ticket(late))["deadlines"]["accept_engineer"] == (
        "2026-11-24T09:33:00+08:00"
    )
    sqlite_bot.clock.set(SUNDAY_11)
    _v2, sunday = await open_ticket(sqlite_bot)
    assert (await sqlite_bot.ticket(sunday))["deadlines"]["accept_engineer"] == (
        "2026-11-22T11:30:00+08:00"
    )


async def test_late_accept_is_what_qa_flags(
    sqlite_bot: Bot, sqlite_url: str, policy: Policy
) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    sqlite_bot.clock.advance(minutes=6)
    await sqlite_bot.act(number, "accept")
    assert [f.rule for f in findings_of(sqlite_url, policy)] == ["SLA003"]


async def test_no_plan_in_four_hours_escalates(bot: Bot) -> None:
    _visitor, number = await open_ticket(bot)
    await bot.act(number, "accept")
    deadlines = (await bot.ticket(number))["deadlines"]
    assert deadlines["solution_warning"] == "2026-11-23T13:30:00+08:00"
    assert deadlines["solution_due"] == "2026-11-23T14:00:00+08:00"
    bot.clock.set(at(23, 13, 30))
    assert await run(bot) == [("solution_warning", "warned 1818,9001")]
    bot.clock.set(at(23, 14, 0))
    assert await run(bot) == [("solution_due", "escalated")]
    detail = await bot.ticket(number)
    escalated = [e for e in detail["events"] if e["event"] == "escalated"]
    assert [(e["actor"], e["data"]["automatic"], e["data"]["to"]) for e in escalated] == [
        ("bot", True, "技术部")
    ]
    assert [d["key"] for d in detail["drafts"]] == ["escalation_notice"]
    assert ("9001", "solution_overdue") in reminders(detail)


async def test_one_extension_then_escalation_at_eight_hours(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    sqlite_bot.clock.set(at(23, 10, 1))
    await sqlite_bot.act(number, "accept")
    sqlite_bot.clock.set(at(23, 13, 0))
    granted = await sqlite_bot.act(
        number, "extension", staff_no="9001", call_note="客户同意延长4小时"
    )
    # Accepted 10:01; 8 attended hours: 7 h 59 min until 18:00, 1 min after 09:30.
    assert granted["extension_due"] == "2026-11-24T09:31:00+08:00"
    sqlite_bot.clock.set(at(23, 14, 1))
    assert await run(sqlite_bot) == []  # the 4 h timers are gone
    sqlite_bot.clock.set(at(24, 9, 31))
    assert await run(sqlite_bot) == [("extension_due", "escalated")]


async def test_plan_in_time_stops_the_solution_clock(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "accept")
    sqlite_bot.clock.set(at(23, 12, 0))
    await sqlite_bot.act(number, "solution", summary="更换电源")
    sqlite_bot.clock.set(at(23, 18, 0))
    assert await run(sqlite_bot) == []
    late = await sqlite_bot.act(number, "extension", staff_no="9001", status=409, call_note="-")
    assert late["error"] == "solution_already_given"


async def test_progress_updates_on_working_days_four_and_seven(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "accept")
    await sqlite_bot.act(number, "solution", summary="等待原厂备件")
    deadlines = (await sqlite_bot.ticket(number))["deadlines"]
    # Opened Monday 11-23 (day 1); Saturday is a working day, Sunday is not.
    assert deadlines["progress_update"] == "2026-11-26T09:30:00+08:00"
    sqlite_bot.clock.set(at(26, 9, 30))
    assert await run(sqlite_bot) == [("progress_update", "day 4 drafted")]
    sqlite_bot.clock.set(at(30, 9, 30))
    assert await run(sqlite_bot) == [("progress_update", "day 7 drafted")]
    drafts = (await sqlite_bot.ticket(number))["drafts"]
    assert [(d["key"], d["day"], d["replacement_offer"]) for d in drafts] == [
        ("progress_day4", 4, False),
        ("progress_day7", 7, True),
    ]
    assert "替代品" in drafts[1]["text"] and number in drafts[1]["text"]


async def test_resolved_ticket_gets_no_progress_draft(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "accept")
    await sqlite_bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    await sqlite_bot.act(number, "resolve", ask_suggestion=False)
    sqlite_bot.clock.set(at(30, 10, 0))
    assert await run(sqlite_bot) == []


async def test_rma_chased_every_three_days_product_manager_after_fifteen(
    sqlite_bot: Bot,
) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "accept")
    await sqlite_bot.act(number, "warranty", signed_for="2026-08-31", proof_reference="INV-1")
    await sqlite_bot.act(number, "rma", action="start", vendor="原厂")
    start = sqlite_bot.clock.now()
    outcomes: list[tuple[str, str]] = []
    for day in range(1, 16):
        sqlite_bot.clock.set(start + timedelta(days=day))
        outcomes += [o for o in await run(sqlite_bot) if o[0].startswith("rma")]
    assert outcomes == [
        ("rma_chase", "chase 1"),
        ("rma_chase", "chase 2"),
        ("rma_chase", "chase 3"),
        ("rma_chase", "chase 4"),
        # Both due on day 15; the product-manager timer is the older row.
        ("rma_product_manager", "product manager called in"),
        ("rma_chase", "chase 5"),
    ]
    await sqlite_bot.act(number, "rma", action="returned")
    sqlite_bot.clock.set(start + timedelta(days=30))
    assert [o for o in await run(sqlite_bot) if o[0].startswith("rma")] == []


async def test_archive_overdue_and_stable_run(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "accept")
    await sqlite_bot.act(number, "stable-run")
    sqlite_bot.clock.advance(hours=24)
    assert ("stable_run_due", "ready for delivery") in await run(sqlite_bot)
    await sqlite_bot.act(number, "resolve", ask_suggestion=False)
    await sqlite_bot.act(
        number,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    sqlite_bot.clock.set(at(26, 18, 0))
    assert await run(sqlite_bot) == [("archive_due", "archive overdue")]
    assert ("9001", "archive_overdue") in reminders(await sqlite_bot.ticket(number))


async def test_a_failing_handler_backs_off_then_gives_up(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    services = sqlite_bot.services

    async def broken(*_args: Any) -> str:
        raise RuntimeError("boom")

    scheduler = Scheduler(
        services.tickets.transaction,
        {"broken": broken},
        instance_id="test-b",
        now=sqlite_bot.clock.now,
        skip_locked=False,
    )
    async with services.tickets.transaction() as session:
        ticket_id = await session.scalar(select(Timer.ticket_id).limit(1))
        assert ticket_id is not None
        schedule(session, "broken", sqlite_bot.clock.now(), ticket_id=ticket_id)
    for attempts in range(1, MAX_ATTEMPTS + 1):
        fired = [f for f in await scheduler.run_due() if f.kind == "broken"]
        assert [f.status for f in fired] == [FAILED]
        assert [f for f in await scheduler.run_due() if f.kind == "broken"] == []  # backing off
        sqlite_bot.clock.advance(minutes=attempts, seconds=1)
    async with services.sessionmaker() as session:
        row = await session.scalar(select(Timer).where(Timer.kind == "broken"))
        assert row is not None
        assert (row.status, row.attempts) == (TimerStatus.CANCELLED, MAX_ATTEMPTS)
    assert (await sqlite_bot.ticket(number))["status"] == "opened"  # nothing half-done


async def test_two_schedulers_fire_each_timer_once(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: Any
) -> None:
    from tests.bot.conftest import start_bot

    first = await start_bot(aiohttp_client, policy, db_url, clock, instance_id="proc-1")
    # On PostgreSQL a second app (its own engine: another process's view);
    # SQLite is one process, so there the second scheduler shares the app.
    postgres = db_url.startswith("postgresql")
    second = (
        await start_bot(aiohttp_client, policy, db_url, clock, instance_id="proc-2")
        if postgres
        else first
    )
    for _ in range(12):
        await open_ticket(first)
    other = Scheduler(
        second.services.tickets.transaction,
        second.services.scheduler.handlers,
        instance_id="proc-2",
        now=clock.now,
        skip_locked=postgres,
        batch=3,
    )
    first.services.scheduler.batch = 3
    clock.advance(minutes=5)
    results = await asyncio.gather(first.services.scheduler.run_due(), other.run_due())
    fired = [f for result in results for f in result if f.status == FIRED]
    assert len(fired) == 12
    assert Counter(f.id for f in fired).most_common(1)[0][1] == 1
    async with first.services.sessionmaker() as session:
        due = await session.scalars(select(Timer).where(Timer.kind == "accept_engineer"))
        assert {t.status for t in due} == {TimerStatus.FIRED}
    tickets = await first.services.views.list_tickets()
    total = 0
    for summary in tickets:
        detail = await first.ticket(summary["number"])
        total += len(detail["reminders"])
    assert total == 12  # one reminder per ticket, whoever fired it
