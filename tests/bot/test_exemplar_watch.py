"""QA's marks reach running ``serve`` processes' pre-send checks without a restart."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session as DbSession

from bot.exemplar_watch import ExemplarWatch
from bot.presend import PresendChecker
from compliance.exemplars import exemplar_version
from compliance.policy import Policy
from storage.db import make_async_engine, make_engine
from storage.models import Exemplar, Polarity
from tests.bot.conftest import start_bot
from tests.bot.test_api import open_ticket
from tests.support import FakeClock

MARKED = "我们公司的质检就是走过场"


def _mark(db_url: str, text: str = MARKED) -> int:
    """What QA's false-positive mark stores: a negative exemplar of the detector."""
    engine = make_engine(db_url)
    try:
        with DbSession(engine) as db, db.begin():
            row = Exemplar(
                detector="company_damaging",
                rule="LNG005",
                polarity=Polarity.NEGATIVE,
                text=text,
                reviewer="qa",
                reason="转述客户的话",
            )
            db.add(row)
            db.flush()
            return row.id
    finally:
        engine.dispose()


def _retire(db_url: str, exemplar_id: int) -> None:
    engine = make_engine(db_url)
    try:
        with DbSession(engine) as db, db.begin():
            db.execute(update(Exemplar).where(Exemplar.id == exemplar_id).values(active=False))
    finally:
        engine.dispose()


async def test_a_mark_reaches_every_running_process_without_a_restart(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock
) -> None:
    # Two serve processes on one database (each its own app, engine and pre-send check).
    first = await start_bot(
        aiohttp_client, policy, db_url, clock, exemplar_poll_s=0, instance_id="a"
    )
    second = await start_bot(
        aiohttp_client, policy, db_url, clock, exemplar_poll_s=0, instance_id="b"
    )
    _visitor, number = await open_ticket(first)
    for bot in (first, second):
        held = await bot.act(number, "presend", text=MARKED)
        assert held["verdict"] == "refused"
        assert [(h["rule"], h["layer"]) for h in held["hits"]] == [("LNG005", "operator")]
    exemplar_id = _mark(db_url)
    # Neither restarted: the next draft each one checks is checked with the mark.
    for bot in (second, first):
        assert (await bot.act(number, "presend", text=MARKED))["verdict"] == "ok"
    # Sending it too (the action path looks as well).
    sent = await second.act(number, "messages", text=MARKED)
    assert [m["text"] for m in sent["sent"]] == [MARKED]
    # A retired exemplar stops counting the same way.
    _retire(db_url, exemplar_id)
    for bot in (first, second):
        assert (await bot.act(number, "presend", text=MARKED))["verdict"] == "refused"
    assert second.services.tickets.desk.exemplars is not None
    assert second.services.tickets.desk.exemplars.reloads == 2


async def test_the_database_is_asked_at_most_once_per_interval(
    policy: Policy, sqlite_url: str
) -> None:
    now = [100.0]
    engine = make_async_engine(sqlite_url)
    presend = PresendChecker(policy)
    try:
        async with engine.connect() as connection:
            version = await connection.run_sync(exemplar_version)
        watch = ExemplarWatch(
            engine, presend, interval_s=30, version=version, monotonic=lambda: now[0]
        )
        assert await watch.refresh() is False  # first look: nothing new
        assert presend.check(MARKED).verdict == "refused"
        _mark(sqlite_url)
        now[0] += 10
        assert await watch.refresh() is False  # within the interval: not asked
        assert presend.check(MARKED).verdict == "refused"
        now[0] += 25
        assert await watch.refresh() is True
        assert presend.check(MARKED).verdict == "ok"
        assert await watch.refresh() is False
        now[0] += 31
        assert await watch.refresh() is False  # asked, unchanged: nothing rebuilt
        assert watch.reloads == 1
    finally:
        await engine.dispose()
