"""The satisfaction loop (issue 17.1): a rating is never lost, the survey always follows,
a low rating asks seed 003's reason and alerts the managers, a good one invites a review.
On SQLite and PostgreSQL (the ``bot`` fixture)."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.console.demo import seed_sessions
from bot.timers import FIRED
from compliance.dbsource import load_sessions
from compliance.policy import Policy
from storage.db import make_engine
from tests.bot.conftest import Bot


async def _tickets(bot: Bot) -> int:
    return len((await bot.api("GET", "/api/tickets", "9001"))["tickets"])


async def _resolved(bot: Bot, ask_suggestion: bool) -> tuple[str, str]:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, "服务器开不了机了"))["ticket"]
    await bot.act(number, "accept")
    await bot.act(number, "solution", summary="重新插拔电源模块")
    bot.clock.advance(minutes=1)
    await bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    await bot.act(number, "resolve", ask_suggestion=ask_suggestion)
    return visitor, number


def _events(detail: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in detail["events"] if e["event"] == kind]


async def test_a_rating_after_close_joins_the_closed_ticket_and_opens_nothing(bot: Bot) -> None:
    visitor, number = await _resolved(bot, ask_suggestion=False)
    bot.clock.advance(minutes=1)
    closed = await bot.act(
        number,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
        summary="电源模块松动",
    )
    assert closed["events"] == ["closed"]
    bot.clock.advance(days=2)
    answer = await bot.say(visitor, "很满意")
    assert answer["ticket"] == number  # the closed ticket, not a new one
    assert [r["text"][:6] for r in answer["replies"]] == ["感谢您对我们", "诚恳地请您抽"]
    assert await _tickets(bot) == 1
    detail = await bot.ticket(number)
    assert detail["status"] == "closed"
    (rated,) = _events(detail, "satisfaction_rated")
    assert rated["data"]["rating"] == "很满意" and rated["data"]["after_close"] is True
    assert [e["data"]["rating"] for e in _events(detail, "review_invited")] == ["很满意"]


async def test_a_rating_after_the_window_is_a_new_case(bot: Bot) -> None:
    visitor, number = await _resolved(bot, ask_suggestion=False)
    await bot.act(
        number,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    bot.clock.advance(days=8)  # past [satisfaction] late_rating_days = 7
    answer = await bot.say(visitor, "满意")
    assert answer["ticket"] != number
    assert _events(await bot.ticket(number), "satisfaction_rated") == []


async def test_the_survey_follows_an_unanswered_suggestion_question(bot: Bot) -> None:
    visitor, number = await _resolved(bot, ask_suggestion=True)
    detail = await bot.ticket(number)
    assert _events(detail, "suggestion_requested") and not _events(detail, "survey_sent")
    bot.clock.advance(minutes=29)
    assert not [f for f in await bot.services.scheduler.run_due() if f.kind == "survey_due"]
    bot.clock.advance(minutes=2)  # 30 min of attended time after the question
    fired = [f for f in await bot.services.scheduler.run_due() if f.kind == "survey_due"]
    assert [(f.status, f.detail) for f in fired] == [(FIRED, "survey sent")]
    detail = await bot.ticket(number)
    (survey,) = [m for m in detail["messages"] if m["prompted_by"] == "satisfaction_survey"]
    assert survey["delivery"] == "sent"  # delivered after the timer committed
    assert _events(detail, "survey_sent")
    # The answer is the rating, not a suggestion.
    answer = await bot.say(visitor, "一般")
    assert [r["text"][:6] for r in answer["replies"]] == ["感谢您对我们", "很抱歉本次服"]
    detail = await bot.ticket(number)
    assert _events(detail, "suggestion_recorded") == []
    assert [e["data"]["rating"] for e in _events(detail, "satisfaction_rated")] == ["一般"]


async def test_a_low_rating_asks_the_reason_and_alerts_every_manager(bot: Bot) -> None:
    visitor, number = await _resolved(bot, ask_suggestion=False)
    answer = await bot.say(visitor, "不满意")
    (thanks, question) = answer["replies"]
    assert thanks["text"].startswith("感谢您对我们本次服务")
    assert "“服务态度”、“技术水平”、“响应速度”" in question["text"]
    detail = await bot.ticket(number)
    alerts = [e["data"] for e in _events(detail, "reminder_sent")]
    assert {
        (a["to"], a["reason"], a.get("rating")) for a in alerts if a["reason"] == "low_satisfaction"
    } == {("9001", "low_satisfaction", "不满意")}
    # The reason arrives after close: it joins the closed ticket too.
    await bot.act(
        number,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    bot.clock.advance(hours=3)
    reason = await bot.say(visitor, "响应速度太慢了，等了很久")
    assert reason["ticket"] == number
    assert [r["text"][:8] for r in reason["replies"]] == ["感谢您的提议和指导"[:8]]
    detail = await bot.ticket(number)
    (given,) = _events(detail, "satisfaction_reason")
    assert given["data"]["reasons"] == ["响应速度"] and given["data"]["rating"] == "不满意"
    later = [e["data"] for e in _events(detail, "reminder_sent")]
    assert any(
        a["reason"] == "low_satisfaction_reason" and a["reasons"] == ["响应速度"] for a in later
    )
    assert await _tickets(bot) == 1


async def test_a_new_problem_after_close_still_opens_a_ticket(bot: Bot) -> None:
    visitor, number = await _resolved(bot, ask_suggestion=False)
    await bot.act(
        number,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    answer = await bot.say(visitor, "另一台服务器的风扇坏了")
    assert answer["ticket"] != number


def test_the_demo_sessions_store_and_load_on_both_databases(db_url: str, policy: Policy) -> None:
    """`serve --demo`'s sample sessions (17.8) on SQLite and PostgreSQL alike."""
    engine = make_engine(db_url)
    try:
        day = date(2026, 11, 23)
        stored = seed_sessions(engine, policy, day)
        assert stored == ["PS-20261123-9001", "PS-20261123-9002", "PS-20261123-9003"]
        assert seed_sessions(engine, policy, day) == []  # once
        loaded = load_sessions(engine, since=day, until=day)
        assert sorted(s.id for s in loaded.sessions) == stored
        assert not loaded.errors
    finally:
        engine.dispose()
