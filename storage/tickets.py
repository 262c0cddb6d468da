"""Ticket numbers: `PS-20261123-0007`, unique even when several processes open tickets at once.

The daily sequence lives in `ticket_counters`; one atomic upsert
(`INSERT … ON CONFLICT DO UPDATE … RETURNING`) both creates the day's row and
takes the next number, so two connections can never get the same one.  Both
PostgreSQL and SQLite (3.35+) support the statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage.models import TicketCounter

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _day(opened_at: datetime) -> str:
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must be timezone-aware")
    return opened_at.astimezone(SHANGHAI).strftime("%Y%m%d")


def _upsert(dialect_name: str, day: str) -> Insert:
    insert: Any = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    stmt = insert(TicketCounter).values(day=day, last_seq=1)
    return stmt.on_conflict_do_update(
        index_elements=[TicketCounter.day],
        set_={"last_seq": TicketCounter.last_seq + 1},
    ).returning(TicketCounter.last_seq)


def format_ticket_number(prefix: str, day: str, seq: int) -> str:
    return f"{prefix}-{day}-{seq:04d}"


def next_ticket_number(session: Session, opened_at: datetime, prefix: str = "PS") -> str:
    """Take the next ticket number of `opened_at`'s local (Asia/Shanghai) day."""
    day = _day(opened_at)
    seq = session.execute(_upsert(session.get_bind().dialect.name, day)).scalar_one()
    return format_ticket_number(prefix, day, seq)


async def next_ticket_number_async(
    session: AsyncSession, opened_at: datetime, prefix: str = "PS"
) -> str:
    """The async twin of `next_ticket_number`."""
    day = _day(opened_at)
    dialect_name = session.get_bind().dialect.name
    seq = (await session.execute(_upsert(dialect_name, day))).scalar_one()
    return format_ticket_number(prefix, day, seq)
