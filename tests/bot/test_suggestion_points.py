"""Suggestions per engineer and month (seed 000 协商执行动作 1②) on both databases: the
engineer who asked gets the point, 0.1 each summed exactly, other months apart."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from bot.console.suggestions import suggestion_months
from compliance.calendar import SHANGHAI
from storage.models import EventKind, Ticket, TicketEvent
from tests.bot.conftest import Bot


async def _ticket_id(bot: Bot, text: str) -> int:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, text))["ticket"]
    async with bot.services.sessionmaker() as session:
        found = await session.scalar(select(Ticket.id).where(Ticket.number == number))
    assert found is not None
    return found


async def test_points_per_engineer_and_month(bot: Bot) -> None:
    tickets = [await _ticket_id(bot, f"服务器故障 {i}") for i in range(4)]
    recorded = [
        # (ticket, who asked, when the answer was recorded, what was said)
        (tickets[0], "2046", datetime(2026, 11, 24, 10, tzinfo=SHANGHAI), "响应再快一点"),
        (tickets[1], "2046", datetime(2026, 11, 25, 10, tzinfo=SHANGHAI), "多发几张说明图"),
        (tickets[2], "2046", datetime(2026, 11, 30, 23, 30, tzinfo=SHANGHAI), "周末也要有人"),
        # 1 December in Shanghai: the next month.
        (tickets[3], "1818", datetime(2026, 12, 1, 0, 10, tzinfo=SHANGHAI), "挺好的"),
    ]
    async with bot.services.sessionmaker() as session, session.begin():
        for ticket_id, asked, at, text in recorded:
            session.add(
                TicketEvent(
                    ticket_id=ticket_id,
                    event=EventKind.SUGGESTION_REQUESTED,
                    at=at - timedelta(minutes=5),
                    actor=asked,
                    data={},
                )
            )
            session.add(
                TicketEvent(
                    ticket_id=ticket_id,
                    event=EventKind.SUGGESTION_RECORDED,
                    at=at,
                    actor="customer",
                    data={"suggestion": text},
                )
            )
    async with bot.services.sessionmaker() as session:
        november = await suggestion_months(session, date(2026, 11, 1), date(2026, 11, 30), 0.1)
        december = await suggestion_months(session, date(2026, 12, 1), date(2026, 12, 31), 0.1)
    by_staff = {m.staff_no: m for m in november}
    assert (by_staff["2046"].count, by_staff["2046"].points) == (3, Decimal("0.3"))
    assert [s["text"] for s in by_staff["2046"].suggestions] == [
        "响应再快一点",
        "多发几张说明图",
        "周末也要有人",
    ]
    assert (by_staff["1818"].count, by_staff["1818"].points) == (0, Decimal("0.0"))
    assert november[0].staff_no == "2046"  # most suggestions first
    assert {m.staff_no: m.count for m in december} == {"1818": 1, "2046": 0}
