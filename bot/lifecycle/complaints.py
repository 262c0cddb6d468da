"""Tracked complaints (seed 002 1.1.2 投诉受理服务): opened, timed, resolved.

A customer message with a complaint cue (``[complaints] cues``: 投诉, 差评 …) opens
a complaint on its ticket unless one is open (`track_customer_complaint`, from
intake); an engineer opens one that came by phone and marks it resolved (the
``complaint`` action).  Opening records ``complaint_opened`` — a SPEC §4 event the
checker reads (SLA006, SLA007) — and alerts the managers (市场中心工程部 handles
complaints); in a profile with complaint limits it also starts two clocks:
``complaint_reply_due`` at the first-reply limit (2 h, attended time) and
``complaint_resolve_due`` at the resolution limit (15 days).  Resolving records
``complaint_resolved`` and stops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import load_ticket, roster_managers
from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import record, state_of
from bot.lifecycle.notify import remind
from bot.lifecycle.vocabulary import BOT_ACTOR, EventKind, TimerKind
from compliance.calendar import as_aware
from storage.models import Message, MessageRole, Ticket

COMPLAINT_TIMERS = (TimerKind.COMPLAINT_REPLY, TimerKind.COMPLAINT_RESOLVE)


async def open_complaint(
    desk: Desk,
    session: AsyncSession,
    ticket: Ticket,
    now: datetime,
    *,
    actor: str,
    source: str,
    note: str | None = None,
    **data: object,
) -> datetime:
    """Record the complaint, alert the managers, start its clocks; when it was opened."""
    at = record(
        session,
        ticket,
        EventKind.COMPLAINT_OPENED,
        now,
        actor=actor,
        data={"source": source, "note": note, **data},
    )
    limits = desk.policy.complaints
    payload = {"opened_at": as_aware(at).isoformat()}
    if limits.first_reply_s is not None:
        due = desk.clock.deadline_after(at, limits.first_reply_s, ticket.channel)
        timers.schedule(
            session, TimerKind.COMPLAINT_REPLY, due, ticket_id=ticket.id, payload=payload
        )
    if limits.resolve_days is not None:
        due = at + timedelta(days=limits.resolve_days)
        timers.schedule(
            session, TimerKind.COMPLAINT_RESOLVE, due, ticket_id=ticket.id, payload=payload
        )
    remind(session, ticket, at, await roster_managers(session), "complaint_opened", source=source)
    return at


async def resolve_complaint(
    session: AsyncSession, ticket: Ticket, now: datetime, *, actor: str, note: str | None
) -> None:
    """Record the complaint resolved and stop its clocks."""
    record(session, ticket, EventKind.COMPLAINT_RESOLVED, now, actor=actor, data={"note": note})
    await timers.cancel(session, ticket.id, COMPLAINT_TIMERS)


async def track_customer_complaint(
    desk: Desk, session: AsyncSession, ticket: Ticket, message: Message, now: datetime
) -> bool:
    """Open a complaint when the customer's message complains and none is open."""
    found = desk.complaint_cues.find(message.text)
    hit = found.get("tracked_complaint")
    if hit is None or (await state_of(session, ticket.id)).complaint_open:
        return False
    await open_complaint(
        desk,
        session,
        ticket,
        now,
        actor=BOT_ACTOR,
        source="customer",
        cue=hit.cue,
        message_id=message.id,
    )
    return True


async def _replied_since(session: AsyncSession, ticket: Ticket, since: datetime) -> bool:
    found = await session.scalar(
        select(Message.id)
        .where(
            Message.ticket_id == ticket.id,
            Message.role == MessageRole.AGENT,
            Message.sent_at > since,
        )
        .limit(1)
    )
    return found is not None


class ComplaintDeadlines:
    """The handlers of a complaint's clocks (merged into `DeadlineHandlers`)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def handlers(self) -> Mapping[str, timers.TimerHandler]:
        return {
            TimerKind.COMPLAINT_REPLY: self.reply_due,
            TimerKind.COMPLAINT_RESOLVE: self.resolve_due,
        }

    async def _open_since(
        self, session: AsyncSession, ticket: Ticket, timer: timers.DueTimer
    ) -> datetime | None:
        """When this timer's complaint was opened, if it is still the open one."""
        state = await state_of(session, ticket.id)
        opened = datetime.fromisoformat(str(timer.payload.get("opened_at")))
        if state.complaint_opened_at is None or state.complaint_opened_at != opened:
            return None
        return opened

    async def reply_due(self, session: AsyncSession, timer: timers.DueTimer, now: datetime) -> str:
        loaded = await load_ticket(self.desk, session, ticket_id=timer.ticket_id)
        ticket = loaded.ticket
        opened = await self._open_since(session, ticket, timer)
        if opened is None:
            return "complaint resolved"
        if await _replied_since(session, ticket, opened):
            return "answered in time"
        managers = await roster_managers(session)
        who = remind(session, ticket, now, [loaded.engineer, *managers], "complaint_reply_overdue")
        return f"reminded {','.join(who) or 'nobody'}"

    async def resolve_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await load_ticket(self.desk, session, ticket_id=timer.ticket_id)
        ticket = loaded.ticket
        if await self._open_since(session, ticket, timer) is None:
            return "complaint resolved"
        managers = await roster_managers(session)
        who = remind(
            session, ticket, now, [loaded.engineer, *managers], "complaint_resolution_overdue"
        )
        return f"reminded {','.join(who) or 'nobody'}"
