"""The pre-send check reads the customer's turn a draft answers (LNG007–LNG009)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session as DbSession

from compliance.policy import Policy
from storage.db import make_engine
from storage.models import Exemplar, Polarity
from tests.bot.conftest import Bot, start_bot
from tests.bot.test_api import open_ticket
from tests.support import FakeClock

COMPLAINT_LINE = "感谢您的提议和指导，我们会继续完善售后服务质量和效率，给您添麻烦了"


async def test_a_draft_that_ignores_the_complaint_it_answers_is_held(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.say(visitor, "等了半天也没人管，什么服务")
    held = await sqlite_bot.act(number, "presend", text="请问服务器型号是什么？")
    assert held["verdict"] == "confirm"
    assert [(h["rule"], h["severity"], h["evidence"]) for h in held["hits"]] == [
        ("LNG007", "warning", "等了半天")
    ]
    assert held["suggestion"] == COMPLAINT_LINE
    answered = await sqlite_bot.act(number, "presend", text="非常抱歉让您久等了，我马上处理")
    assert (answered["verdict"], answered["hits"]) == ("ok", [])
    # Sending the ignoring draft needs a reason, like any warning.
    refused = await sqlite_bot.act(number, "messages", status=409, text="请问服务器型号是什么？")
    assert refused["error"] == "presend_confirmation_required"


async def test_once_the_agent_has_answered_the_turn_is_no_longer_read(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.say(visitor, "等了半天也没人管，什么服务")
    await sqlite_bot.act(number, "messages", text="非常抱歉让您久等了，我马上处理")
    later = await sqlite_bot.act(number, "presend", text="请问服务器型号是什么？")
    assert (later["verdict"], later["hits"]) == ("ok", [])


async def test_the_marks_stored_before_start_up_teach_the_presend_check(
    aiohttp_client: Any, policy: Policy, sqlite_url: str, clock: FakeClock
) -> None:
    marked = "我们公司的质检就是走过场"
    before = await start_bot(aiohttp_client, policy, sqlite_url, clock)
    assert before.services.tickets.desk.presend.check(marked).verdict == "refused"
    engine = make_engine(sqlite_url)
    try:
        with DbSession(engine) as db, db.begin():
            db.add(
                Exemplar(
                    detector="company_damaging",
                    rule="LNG005",
                    polarity=Polarity.NEGATIVE,
                    text=marked,
                    reviewer="qa",
                    reason="转述客户的话",
                )
            )
    finally:
        engine.dispose()
    after = await start_bot(aiohttp_client, policy, sqlite_url, clock)
    assert after.services.tickets.desk.presend.check(marked).verdict == "ok"
