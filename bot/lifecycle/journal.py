"""The ticket's journal: recording steps, their time stamps, and what they add up to.

Every step is a `TicketEvent` of an `EventKind`.  `record` adds one and stamps
the ticket's time column for it the first time (`STAMPED_COLUMNS`: accepted_at,
resolved_at …).  Times within one transaction strictly increase (`stamp`): one
action records several things at the same moment (the resolution, the thanks
line, the responsibility line), and distinct times keep that order in every
transcript whatever sorts it.  `TicketState` is what the events say about where
the ticket stands; it is derived, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.vocabulary import RETIRED_EVENTS, EventKind
from compliance.calendar import as_aware
from storage.models import Message, Ticket, TicketEvent

# The ticket column each of these steps stamps (first occurrence wins).
STAMPED_COLUMNS: Mapping[EventKind, str] = {
    EventKind.TICKET_ACCEPTED: "accepted_at",
    EventKind.REMOTE_LOGIN: "remote_login_at",
    EventKind.SOLUTION_GIVEN: "solution_given_at",
    EventKind.EXTENSION_GRANTED: "extension_granted_at",
    EventKind.ESCALATED: "escalated_at",
    EventKind.RESOLVED: "resolved_at",
    EventKind.CLOSED: "closed_at",
    EventKind.BACKUP_WARNING_SENT: "backup_warning_sent_at",
    EventKind.BACKUP_CONFIRMED: "backup_confirmed_at",
    EventKind.SUGGESTION_REQUESTED: "suggestion_requested_at",
    EventKind.SUGGESTION_DECLINED: "suggestion_declined_at",
    EventKind.ARCHIVED: "archived_at",
}

_TICK = timedelta(milliseconds=1)
_LAST_AT = "bot_last_at"  # key in AsyncSession.info


def make_event(
    ticket_id: int,
    kind: EventKind,
    at: datetime,
    *,
    actor: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> TicketEvent:
    """A `TicketEvent` of `kind`; a retired kind is refused (its rows are history)."""
    if kind in RETIRED_EVENTS:
        raise ValueError(f"event kind {kind.value!r} is retired: record a step of its own")
    return TicketEvent(ticket_id=ticket_id, event=kind, at=at, actor=actor, data=dict(data or {}))


def record(
    session: AsyncSession,
    ticket: Ticket,
    kind: EventKind,
    at: datetime,
    *,
    actor: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> datetime:
    """Record a step of the ticket (stamping its time column); returns the time stamped."""
    at = stamp(session, at)
    session.add(make_event(ticket.id, kind, at, actor=actor, data=data))
    column = STAMPED_COLUMNS.get(kind)
    if column is not None and getattr(ticket, column) is None:
        setattr(ticket, column, at)
    return at


async def seed_stamp(session: AsyncSession, ticket_id: int) -> None:
    """Make this transaction record after everything the ticket already has."""
    last_message = await session.scalar(
        select(func.max(Message.sent_at)).where(Message.ticket_id == ticket_id)
    )
    last_event = await session.scalar(
        select(func.max(TicketEvent.at)).where(TicketEvent.ticket_id == ticket_id)
    )
    known = [as_aware(t) for t in (last_message, last_event, session.info.get(_LAST_AT)) if t]
    if known:
        session.info[_LAST_AT] = max(known)


def stamp(session: AsyncSession, at: datetime) -> datetime:
    """`at`, or 1 ms after what this transaction recorded last."""
    last: datetime | None = session.info.get(_LAST_AT)
    if last is not None and at <= last:
        at = last + _TICK
    session.info[_LAST_AT] = at
    return at


@dataclass(slots=True)
class TicketState:
    """What a ticket's events say about where it stands (derived, never stored)."""

    backup_warning_sent: bool = False
    backup_confirmed: bool = False
    suggestion_requested: bool = False
    suggestion_answered: bool = False
    suggestion_declined: bool = False
    survey_sent: bool = False
    rating: str | None = None
    # Seed 003's form after a low rating: the reasons named (an empty list: none named).
    rating_reason: list[str] | None = None
    extensions: int = 0
    escalated: bool = False
    solution_given: bool = False
    remote_login: bool = False
    stable_run_until: datetime | None = None
    stable_run_waived: bool = False
    rma_open: bool = False
    archived: bool = False
    # Seed 002 1.1.2: a complaint being handled, since when.
    complaint_opened_at: datetime | None = None
    complaints: int = 0

    @property
    def complaint_open(self) -> bool:
        return self.complaint_opened_at is not None

    @property
    def remote_allowed(self) -> bool:
        """SCR003: the warning was sent and the customer confirmed the backup."""
        return self.backup_warning_sent and self.backup_confirmed

    @classmethod
    def from_events(cls, events: Iterable[TicketEvent]) -> TicketState:
        state = cls()
        for event in events:
            kind = event.event
            data = event.data or {}
            if kind is EventKind.BACKUP_WARNING_SENT:
                state.backup_warning_sent = True
            elif kind is EventKind.BACKUP_CONFIRMED:
                state.backup_confirmed = True
            elif kind is EventKind.SUGGESTION_REQUESTED:
                state.suggestion_requested = True
            elif kind in (EventKind.SUGGESTION_DECLINED, EventKind.SUGGESTION_RECORDED):
                state.suggestion_answered = True
                state.suggestion_declined |= kind is EventKind.SUGGESTION_DECLINED
            elif kind is EventKind.SURVEY_SENT:
                state.survey_sent = True
            elif kind is EventKind.SATISFACTION_RATED:
                state.rating = data.get("rating")
            elif kind is EventKind.SATISFACTION_REASON:
                state.rating_reason = list(data.get("reasons") or [])
            elif kind is EventKind.EXTENSION_GRANTED:
                state.extensions += 1
            elif kind is EventKind.ESCALATED:
                state.escalated = True
            elif kind is EventKind.SOLUTION_GIVEN:
                state.solution_given = True
            elif kind is EventKind.REMOTE_LOGIN:
                state.remote_login = True
            elif kind is EventKind.STABLE_RUN_STARTED:
                state.stable_run_until = datetime.fromisoformat(str(data["until"]))
            elif kind is EventKind.STABLE_RUN_WAIVED:
                state.stable_run_waived = True
            elif kind is EventKind.RMA_STARTED:
                state.rma_open = True
            elif kind is EventKind.RMA_RETURNED:
                state.rma_open = False
            elif kind in (EventKind.ARCHIVED, EventKind.ARCHIVE_SKIPPED_DUPLICATE):
                state.archived = True
            elif kind is EventKind.COMPLAINT_OPENED:
                state.complaint_opened_at = as_aware(event.at)
                state.complaints += 1
            elif kind is EventKind.COMPLAINT_RESOLVED:
                state.complaint_opened_at = None
        return state


async def events_of(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    """The ticket's events in the order they happened."""
    rows = await session.execute(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.at, TicketEvent.id)
    )
    return list(rows.scalars())


async def state_of(session: AsyncSession, ticket_id: int) -> TicketState:
    """Where the ticket stands now, from its journal."""
    return TicketState.from_events(await events_of(session, ticket_id))
