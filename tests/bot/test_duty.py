"""On-call duty (seed 003) through the API: the rota, routing out of hours and urgent
tickets to the engineer on duty with a manager alert, calls and visits with their
duration, the month's log and its hand-over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from compliance.calendar import SHANGHAI
from tests.bot.conftest import SUNDAY_11, Bot


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def routed(detail: dict[str, Any]) -> dict[str, Any] | None:
    return next((e["data"] for e in detail["events"] if e["event"] == "routed_on_call"), None)


def manager_alerts(detail: dict[str, Any]) -> list[str]:
    return [r["data"]["reason"] for r in detail["reminders"] if r["data"]["to"] == "9001"]


async def open_ticket(bot: Bot, text: str) -> str:
    visitor = await bot.visitor()
    return str((await bot.say(visitor, text))["ticket"])


async def test_only_a_manager_sets_the_rota_and_bad_fields_are_named(bot: Bot) -> None:
    body = {"month": "2026-11", "staff_no": "2046"}
    refused = await bot.api("POST", "/api/duty/rota", "1818", json=body, status=403)
    assert refused["error"] == "manager_required"
    for bad, field in (
        ({"month": "2026-13", "staff_no": "2046"}, "month"),
        ({"month": "11/2026", "staff_no": "2046"}, "month"),
        ({"month": "2026-11", "staff_no": "0000"}, "staff_no"),
        ({"month": "2026-11", "staff_no": "9001"}, "staff_no"),
        ({"month": "2026-11"}, "staff_no"),
    ):
        answer = await bot.api("POST", "/api/duty/rota", "9001", json=bad, status=400)
        assert answer["field"] == field, answer
    row = await bot.api("POST", "/api/duty/rota", "9001", json={**body, "note": "十一月"})
    assert row["engineer"] == {"staff_no": "2046", "name": "李四"}
    duty = await bot.api("GET", "/api/duty?month=2026-11", "1818")
    assert duty["engineer"]["staff_no"] == "2046"
    assert [m["month"] for m in duty["rota"]][:2] == ["2026-11", "2026-12"]
    assert duty["rota"][1]["engineer"] is None
    bad = await bot.api("GET", "/api/duty?month=2026-1", "1818", status=400)
    assert bad["field"] == "month"


async def test_rest_day_out_of_hours_and_urgent_tickets_go_to_the_engineer_on_duty(
    bot: Bot,
) -> None:
    await bot.api("POST", "/api/duty/rota", "9001", json={"month": "2026-11", "staff_no": "2046"})
    # In the working day: assigned as usual (the fewest open tickets: 1818 first).
    usual = await bot.ticket(await open_ticket(bot, "服务器开不了机了"))
    assert routed(usual) is None
    assert usual["engineer"]["staff_no"] == "1818"
    # Urgent in the working day: the engineer on duty, and the managers are told.
    urgent = await bot.ticket(await open_ticket(bot, "紧急！机房服务器全部宕机"))
    assert urgent["engineer"]["staff_no"] == "2046"
    assert routed(urgent) == {
        "why": "urgent",
        "month": "2026-11",
        "staff_no": "2046",
        "in_duty_window": True,
        "cue": "紧急",
    }
    assert "duty_routed" in manager_alerts(urgent)
    # A working day after 18:00, outside the duty window too.
    bot.clock.set(at(23, 19, 30))
    late = await bot.ticket(await open_ticket(bot, "硬盘告警"))
    assert late["engineer"]["staff_no"] == "2046"
    assert (routed(late) or {})["why"] == "out_of_hours"
    assert (routed(late) or {})["in_duty_window"] is False
    # Sunday: a rest day.
    bot.clock.set(SUNDAY_11)
    sunday = await bot.ticket(await open_ticket(bot, "服务器很慢"))
    assert sunday["engineer"]["staff_no"] == "2046"
    assert (routed(sunday) or {})["why"] == "rest_day"
    assigned = next(e for e in sunday["events"] if e["event"] == "assigned")
    assert assigned["data"]["reason"] == "on call (seed 003)"


async def test_with_nobody_on_the_rota_the_managers_are_told(bot: Bot) -> None:
    bot.clock.set(SUNDAY_11)
    detail = await bot.ticket(await open_ticket(bot, "服务器开不了机了"))
    assert (routed(detail) or {})["staff_no"] is None
    assert "duty_rota_empty" in manager_alerts(detail)
    assert detail["engineer"] is not None


async def test_calls_and_visits_with_duration_the_month_log_and_the_handover(bot: Bot) -> None:
    await bot.api("POST", "/api/duty/rota", "9001", json={"month": "2026-11", "staff_no": "2046"})
    bot.clock.set(SUNDAY_11)
    number = await open_ticket(bot, "服务器开不了机了")
    call = await bot.act(
        number, "contact", "2046", kind="call", duration_min=12, result="电话指导客户重启"
    )
    assert call["events"] == ["contact_recorded"]
    assert (call["contact"]["duration_s"], call["contact"]["on_duty"]) == (720, True)
    for bad, field in (
        ({"kind": "email", "duration_min": 5, "result": "x"}, "kind"),
        ({"kind": "call", "duration_min": 0, "result": "x"}, "duration_min"),
        ({"kind": "call", "duration_min": 5, "result": " "}, "result"),
        ({"kind": "call", "result": "x"}, "duration_min"),
    ):
        answer = await bot.act(number, "contact", "2046", status=400, **bad)
        assert answer["field"] == field, answer
    bot.clock.set(at(22, 16, 0))
    visit = await bot.act(
        number, "contact", "2046", kind="visit", duration_min=90, result="上门更换电源"
    )
    assert visit["events"] == ["contact_recorded", "reminder_sent"]
    detail = await bot.ticket(number)
    assert "duty_visit" in manager_alerts(detail)
    contacts = [e["data"] for e in detail["events"] if e["event"] == "contact_recorded"]
    assert [(c["kind"], c["duration_s"]) for c in contacts] == [("call", 720), ("visit", 5400)]
    # A call in the working day is not on-call work.
    bot.clock.set(at(23, 11, 0))
    weekday = await bot.act(number, "contact", "2046", kind="call", duration_min=3, result="回访")
    assert weekday["contact"]["on_duty"] is False

    log = await bot.api("GET", "/api/duty?month=2026-11", "2046")
    assert (log["calls"], log["call_seconds"], log["visits"], log["visit_seconds"]) == (
        1,
        720,
        1,
        5400,
    )
    assert [t["number"] for t in log["tickets"]] == [number]
    assert log["to_follow"] == [number]
    assert log["handover"] is None

    body = {"month": "2026-11", "notes": "PS 工单仍需跟踪电源返修"}
    refused = await bot.api("POST", "/api/duty/handovers", "1818", json=body, status=403)
    assert refused["error"] == "not_on_duty"
    await bot.api("POST", "/api/duty/rota", "9001", json={"month": "2026-12", "staff_no": "1818"})
    handed = await bot.api("POST", "/api/duty/handovers", "2046", json=body, status=201)
    assert handed["from"]["staff_no"] == "2046"
    assert handed["to"]["staff_no"] == "1818"
    assert handed["summary"]["to_follow"] == [number]
    again = await bot.api("POST", "/api/duty/handovers", "2046", json=body, status=409)
    assert again["error"] == "handover_exists"
    assert (await bot.api("GET", "/api/duty?month=2026-11", "1818"))["handover"]["notes"] == (
        body["notes"]
    )


async def test_a_later_urgent_message_out_of_hours_goes_to_the_engineer_on_duty(
    bot: Bot,
) -> None:
    await bot.api("POST", "/api/duty/rota", "9001", json={"month": "2026-11", "staff_no": "2046"})
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "服务器很慢"))["ticket"]
    await bot.say(visitor, "紧急，请尽快处理")  # in the working day: 张三 keeps it
    detail = await bot.ticket(number)
    assert detail["engineer"]["staff_no"] == "1818" and routed(detail) is None
    bot.clock.set(at(23, 20, 0))
    await bot.say(visitor, "紧急！服务器又宕机了")
    detail = await bot.ticket(number)
    assert detail["engineer"]["staff_no"] == "2046"
    assert (routed(detail) or {})["why"] == "urgent"
    handed = next(e for e in detail["events"] if e["event"] == "reassigned")
    assert (handed["data"]["from"], handed["data"]["to"]) == ("1818", "2046")
    last = [m for m in detail["messages"] if m["role"] == "agent"][-1]
    assert "李四" in last["text"] and "2046" in last["text"]
    assert "duty_routed" in manager_alerts(detail)
    # Once per ticket.
    await bot.say(visitor, "紧急紧急")
    again = await bot.ticket(number)
    assert [e["event"] for e in again["events"]].count("routed_on_call") == 1
