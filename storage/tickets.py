"""Ticket numbers: `PS-20261123-0007`, unique even when several processes open tickets at once.

The daily sequence lives in `ticket_counters`; one atomic upsert
(`INSERT … ON CONFLICT (day) DO UPDATE SET last_seq = last_seq + 1 RETURNING
last_seq`) both creates the day's row and takes the next number.  On
PostgreSQL the conflicting row stays locked until the taker's transaction ends,
so a second connection waits and then gets the next number; on SQLite (3.35+)
the writer lock does the same.  A number taken in a transaction that rolls
back is handed out again, so numbers have no gaps from failed openings.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage.models import TicketCounter

# The vendor's day: numbers follow the Asia/Shanghai calendar date.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def _local_day(opened_at: datetime) -> str:
    if opened_at.tzinfo is None or opened_at.utcoffset() is None:
        raise ValueError(f"opened_at must be timezone-aware, got {opened_at!r}")
    return opened_at.astimezone(LOCAL_ZONE).strftime("%Y%m%d")


def _check_prefix(prefix: str) -> None:
    if not prefix or not prefix.isalnum() or not prefix.isascii():
        raise ValueError(f"ticket number prefix must be ASCII letters/digits, got {prefix!r}")


def _take_next(dialect_name: str, day: str) -> Insert:
    upsert: Insert
    if dialect_name == "postgresql":
        upsert = postgresql.insert(TicketCounter).values(day=day, last_seq=1)
        upsert = upsert.on_conflict_do_update(
            index_elements=[TicketCounter.day], set_={"last_seq": TicketCounter.last_seq + 1}
        )
    elif dialect_name == "sqlite":
        upsert = sqlite.insert(TicketCounter).values(day=day, last_seq=1)
        upsert = upsert.on_conflict_do_update(
            index_elements=[TicketCounter.day], set_={"last_seq": TicketCounter.last_seq + 1}
        )
    else:
        raise ValueError(f"ticket numbers need SQLite or PostgreSQL, not {dialect_name!r}")
    return upsert.returning(TicketCounter.last_seq)


def format_ticket_number(prefix: str, day: str, seq: int) -> str:
    """`PS`, `20261123`, 7 → `PS-20261123-0007` (a 10 000th ticket of a day gets 5 digits)."""
    return f"{prefix}-{day}-{seq:04d}"


def next_ticket_number(session: Session, opened_at: datetime, prefix: str = "PS") -> str:
    """Take the next ticket number of `opened_at`'s local (Asia/Shanghai) day.

    Runs in the session's transaction: commit it together with the ticket.
    """
    _check_prefix(prefix)
    day = _local_day(opened_at)
    seq = session.execute(_take_next(session.get_bind().dialect.name, day)).scalar_one()
    return format_ticket_number(prefix, day, seq)


async def next_ticket_number_async(
    session: AsyncSession, opened_at: datetime, prefix: str = "PS"
) -> str:
    """The async twin of `next_ticket_number` (the bot)."""
    _check_prefix(prefix)
    day = _local_day(opened_at)
    seq = (await session.execute(_take_next(session.get_bind().dialect.name, day))).scalar_one()
    return format_ticket_number(prefix, day, seq)
