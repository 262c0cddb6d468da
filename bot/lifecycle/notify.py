"""Notifications to people: one ``reminder_sent`` event per person, which the console
and ``/api/reminders`` show to whom it is addressed (the deadline handlers' way)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.journal import record
from bot.lifecycle.vocabulary import SYSTEM_ACTOR, EventKind
from storage.models import Engineer, Ticket


def remind(
    session: AsyncSession,
    ticket: Ticket,
    now: datetime,
    people: Sequence[Engineer | None],
    reason: str,
    **data: Any,
) -> list[str]:
    """Record a reminder to each of `people` (once each); the 工号 reminded."""
    reminded: list[str] = []
    for person in people:
        if person is None or person.staff_no in reminded:
            continue
        record(
            session,
            ticket,
            EventKind.REMINDER_SENT,
            now,
            actor=SYSTEM_ACTOR,
            data={"to": person.staff_no, "reason": reason, **data},
        )
        reminded.append(person.staff_no)
    return reminded
