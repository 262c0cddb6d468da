"""Reminders as people see them: every timer of a ticket, and the reminders addressed to one.

A timer (`TimerKind`) waits until it is due; when it fires, its handler records
``reminder_sent`` events, one per person (`bot.lifecycle.notify`).  Here both
are read back for the console: a ticket's timers (pending and past) with their
words (`scripts_library.TIMER_LABELS`), a person's reminders with theirs
(`REMINDER_LABELS`) and which are new since they last marked them read
(`storage.delivery_models.ReminderRead`), and the manager's overview of the
timers due soon or overdue across the active tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.vocabulary import ACTIVE, EventKind
from compliance.calendar import SHANGHAI, as_aware
from scripts_library import REMINDER_LABELS, TIMER_LABELS
from storage.delivery_models import ReminderRead
from storage.models import Ticket, TicketEvent, Timer

# How many reminder rows a count or a list reads at most.
SCAN_LIMIT = 2000


def _iso(value: datetime) -> str:
    return as_aware(value).astimezone(SHANGHAI).isoformat()


def timer_item(
    kind: str, due_at: datetime, status: Any, payload: dict[str, Any] | None
) -> dict[str, Any]:
    state = str(getattr(status, "value", status))
    return {
        "kind": kind,
        "label": TIMER_LABELS.get(kind, kind),
        "due_at": _iso(due_at),
        "status": state,
        "pending": state == timers.PENDING,
        "detail": _timer_detail(kind, payload or {}),
    }


def _timer_detail(kind: str, payload: dict[str, Any]) -> str:
    if kind == "progress_update" and payload.get("day"):
        return f"第{payload['day']}个工作日"
    if kind == "rma_chase":
        chase = payload.get("chase")
        return "原厂承诺日" if chase == "promised" else f"第{chase}次" if chase else ""
    if kind == "onsite_due":
        return "未到达则提示改期" if payload.get("stage") == "late" else "当天上午提醒"
    if kind == "repair_due" and payload.get("stage") == "latest":
        return "最长时限"
    return ""


async def ticket_timers(session: AsyncSession, ticket_id: int) -> list[dict[str, Any]]:
    """Every timer of the ticket, the pending ones first (soonest first), then the past."""
    rows = (
        await session.execute(
            select(Timer.kind, Timer.due_at, Timer.status, Timer.payload)
            .where(Timer.ticket_id == ticket_id)
            .order_by(Timer.due_at, Timer.id)
        )
    ).all()
    items = [timer_item(kind, due, status, payload) for kind, due, status, payload in rows]
    return [i for i in items if i["pending"]] + [i for i in items if not i["pending"]][::-1]


def reminder_item(event: TicketEvent, number: str | None = None) -> dict[str, Any]:
    data = dict(event.data or {})
    reason = str(data.get("reason") or "")
    return {
        "id": event.id,
        "ticket": number,
        "ts": _iso(event.at),
        "to": data.get("to"),
        "reason": reason,
        "label": REMINDER_LABELS.get(reason, reason),
        "note": data.get("note"),
    }


async def seen_id(session: AsyncSession, staff_no: str) -> int:
    row = await session.get(ReminderRead, staff_no)
    return row.seen_event_id if row is not None else 0


async def _addressed(
    session: AsyncSession, staff_no: str, *, after_id: int = 0, limit: int = SCAN_LIMIT
) -> list[tuple[TicketEvent, str]]:
    rows = (
        await session.execute(
            select(TicketEvent, Ticket.number)
            .join(Ticket, TicketEvent.ticket_id == Ticket.id)
            .where(TicketEvent.event == EventKind.REMINDER_SENT, TicketEvent.id > after_id)
            .order_by(TicketEvent.id.desc())
            .limit(limit)
        )
    ).all()
    return [(e, n) for e, n in rows if (e.data or {}).get("to") == staff_no]


async def inbox(session: AsyncSession, staff_no: str, limit: int = 100) -> dict[str, Any]:
    """The reminders addressed to `staff_no`, newest first, those not yet read marked new."""
    seen = await seen_id(session, staff_no)
    mine = await _addressed(session, staff_no)
    items = [{**reminder_item(e, n), "new": e.id > seen} for e, n in mine[:limit]]
    return {"items": items, "unread": sum(1 for e, _n in mine if e.id > seen)}


async def unread_count(session: AsyncSession, staff_no: str) -> int:
    return len(await _addressed(session, staff_no, after_id=await seen_id(session, staff_no)))


async def unread_by_ticket(session: AsyncSession, staff_no: str) -> dict[str, int]:
    """New reminders per ticket number (the queue's bell badge)."""
    counts: dict[str, int] = {}
    for _event, number in await _addressed(
        session, staff_no, after_id=await seen_id(session, staff_no)
    ):
        counts[number] = counts.get(number, 0) + 1
    return counts


async def mark_read(session: AsyncSession, staff_no: str, now: datetime) -> int:
    """Everything addressed to `staff_no` so far is read; the id read up to."""
    newest = await session.scalar(
        select(func.max(TicketEvent.id)).where(TicketEvent.event == EventKind.REMINDER_SENT)
    )
    row = await session.get(ReminderRead, staff_no)
    if row is None:
        row = ReminderRead(staff_no=staff_no, seen_event_id=0)
        session.add(row)
    row.seen_event_id = max(row.seen_event_id, int(newest or 0))
    row.seen_at = now
    return row.seen_event_id


async def timers_by_ticket(
    session: AsyncSession, numbers: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """The pending timers of each ticket number, soonest first."""
    wanted = list(numbers)
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in wanted}
    if not wanted:
        return out
    rows = await session.execute(
        select(Ticket.number, Timer.kind, Timer.due_at, Timer.status, Timer.payload)
        .join(Ticket, Timer.ticket_id == Ticket.id)
        .where(Ticket.number.in_(wanted), Timer.status == timers.PENDING)
        .order_by(Timer.due_at, Timer.id)
    )
    for number, kind, due, status, payload in rows:
        out[number].append(timer_item(kind, due, status, payload))
    return out


async def overview(
    session: AsyncSession, now: datetime, *, within: timedelta = timedelta(days=1), limit: int = 50
) -> dict[str, Sequence[dict[str, Any]]]:
    """The manager's view: pending timers due within `within` (or overdue) on any ticket
    still open or awaiting its archive, and the latest reminders to anyone."""
    rows = await session.execute(
        select(Ticket.number, Ticket.status, Timer.kind, Timer.due_at, Timer.status, Timer.payload)
        .join(Ticket, Timer.ticket_id == Ticket.id)
        .where(Timer.status == timers.PENDING, Timer.due_at <= now + within)
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
    )
    due = [
        {
            **timer_item(kind, due_at, status, payload),
            "ticket": number,
            "open": ticket_status in ACTIVE,
            "overdue": as_aware(due_at) <= now,
        }
        for number, ticket_status, kind, due_at, status, payload in rows
    ]
    sent = (
        await session.execute(
            select(TicketEvent, Ticket.number)
            .join(Ticket, TicketEvent.ticket_id == Ticket.id)
            .where(TicketEvent.event == EventKind.REMINDER_SENT)
            .order_by(TicketEvent.id.desc())
            .limit(limit)
        )
    ).all()
    return {"due": due, "sent": [reminder_item(e, n) for e, n in sent]}
