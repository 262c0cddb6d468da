"""Read-only views of tickets for the API, the web chat and the console.

Plain dictionaries ready for JSON: a ticket summary (for queues), the full
ticket (transcript, events, derived state, suggested drafts not yet sent,
pending deadlines, reminders), a customer's conversation (for the web page),
reminders addressed to one staff member.  Times are ISO 8601 with offset.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle import reminders
from bot.lifecycle.access import TicketError, load_ticket
from bot.lifecycle.aftercare import aftercare_view
from bot.lifecycle.delivery import delivery_view
from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import TicketState, events_of
from bot.lifecycle.vocabulary import ACTIVE, TimerKind
from bot.prompting import PromptedLine
from compliance.calendar import SHANGHAI, as_aware
from scripts_library import ScriptKey
from storage.models import (
    Customer,
    Engineer,
    EventKind,
    Message,
    MessageRole,
    Ticket,
    TicketEvent,
    TicketStatus,
    Timer,
)

TIME_COLUMNS: tuple[str, ...] = (
    "opened_at",
    "accepted_at",
    "remote_login_at",
    "solution_given_at",
    "extension_granted_at",
    "escalated_at",
    "resolved_at",
    "closed_at",
    "archived_at",
)

# Kinds whose events carry a draft for the engineer.
_DRAFT_KINDS = frozenset({EventKind.DRAFT_SUGGESTED, EventKind.PROGRESS_UPDATE_DUE})

# Prompt buttons of the ticket page, in the order a reception meets them.
PROMPT_LINES: tuple[ScriptKey, ...] = (
    ScriptKey.BACKUP_WARNING,
    ScriptKey.COMPLAINT_RESPONSE,
    ScriptKey.DOUBT_RESPONSE,
    ScriptKey.EMOTION_RESPONSE,
    ScriptKey.THANKS,
    ScriptKey.RESPONSIBILITY,
    ScriptKey.SUGGESTION_REQUEST,
)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in Shanghai time (how people at the centre read it), or None."""
    return as_aware(value).astimezone(SHANGHAI).isoformat() if value is not None else None


def staff_view(engineer: Engineer) -> dict[str, Any]:
    return {
        "staff_no": engineer.staff_no,
        "name": engineer.name,
        "roles": list(engineer.roles),
        "on_duty": engineer.on_duty,
    }


def message_view(message: Message) -> dict[str, Any]:
    client_id = None
    if message.role is MessageRole.CUSTOMER and message.channel == "web" and message.external_id:
        # Web chat ids are "visitor:client id"; the page matches its pending line by the latter.
        client_id = message.external_id.rpartition(":")[2]
    return {
        "id": message.id,
        "role": message.role.value,
        "sender": message.sender,
        "name": message.sender_name,
        "text": message.text,
        "kind": message.kind,
        "ts": iso(message.sent_at),
        "prompted_by": message.prompted_by,
        "override_reason": message.override_reason,
        "delivery": message.delivery_status.value if message.delivery_status else None,
        "client_id": client_id,
    }


def public_message_view(message: Message) -> dict[str, Any]:
    """What the customer's own page may see of a line (no internal fields)."""
    full = message_view(message)
    return {k: full[k] for k in ("id", "role", "name", "text", "ts", "client_id")}


def event_view(event: TicketEvent) -> dict[str, Any]:
    data = dict(event.data or {})
    return {
        "id": event.id,
        "event": event.event.value,
        "ts": iso(event.at),
        "actor": event.actor,
        "data": data,
    }


def pending_drafts(
    events: Sequence[TicketEvent], messages: Sequence[Message]
) -> list[dict[str, Any]]:
    """Drafts offered to the engineer and not sent since (no agent line with that key or text)."""
    pending: list[dict[str, Any]] = []
    for event in events:
        if event.event not in _DRAFT_KINDS:
            continue
        data = dict(event.data or {})
        offered = as_aware(event.at)
        used = any(
            m.role is MessageRole.AGENT
            and as_aware(m.sent_at) >= offered
            and (m.prompted_by == data.get("key") or m.text == data.get("text"))
            for m in messages
        )
        if not used:
            pending.append({"event_id": event.id, **data})
    return pending


def state_view(state: TicketState) -> dict[str, Any]:
    return {
        "backup_warning_sent": state.backup_warning_sent,
        "backup_confirmed": state.backup_confirmed,
        "remote_allowed": state.remote_allowed,
        "suggestion_requested": state.suggestion_requested,
        "suggestion_declined": state.suggestion_declined,
        "survey_sent": state.survey_sent,
        "rating": state.rating,
        "extensions": state.extensions,
        "escalated": state.escalated,
        "solution_given": state.solution_given,
        "remote_login": state.remote_login,
        "stable_until": iso(state.stable_run_until),
        "stable_run_waived": state.stable_run_waived,
        "rma_open": state.rma_open,
        "archived": state.archived,
        "complaint_open": state.complaint_open,
        "complaint_opened_at": iso(state.complaint_opened_at),
        "complaints": state.complaints,
    }


class TicketViews:
    """Queries behind the read-only routes."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.sessionmaker = desk.sessionmaker

    async def staff(self) -> list[dict[str, Any]]:
        async with self.sessionmaker() as session:
            rows = (await session.execute(select(Engineer).order_by(Engineer.staff_no))).scalars()
            return [staff_view(e) for e in rows]

    async def list_tickets(
        self,
        *,
        status: str | None = None,
        staff_no: str | None = None,
        ids: Collection[int] | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Tickets, newest first; `status` a ticket status or ``active`` (all but closed);
        `ids`: only these (a search's matches)."""
        async with self.sessionmaker() as session:
            query = select(Ticket).order_by(Ticket.opened_at.desc(), Ticket.id.desc()).limit(limit)
            if ids is not None:
                query = query.where(Ticket.id.in_(list(ids)))
            if status == "active":
                query = query.where(Ticket.status.in_(ACTIVE))
            elif status is not None:
                query = query.where(Ticket.status == TicketStatus(status))
            if staff_no is not None:
                query = query.join(Engineer, Ticket.assigned_engineer_id == Engineer.id).where(
                    Engineer.staff_no == staff_no
                )
            tickets = list((await session.execute(query)).scalars())
            return [await self._summary(session, t) for t in tickets]

    async def _summary(self, session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
        customer = await session.get(Customer, ticket.customer_id)
        engineer = (
            await session.get(Engineer, ticket.assigned_engineer_id)
            if ticket.assigned_engineer_id
            else None
        )
        due = (
            await session.execute(
                select(Timer.kind, Timer.due_at)
                .where(Timer.ticket_id == ticket.id, Timer.status == timers.PENDING)
                .order_by(Timer.due_at)
            )
        ).all()
        deadlines: dict[str, str | None] = {}
        for kind, due_at in due:
            deadlines.setdefault(kind, iso(due_at))
        return {
            "number": ticket.number,
            "channel": ticket.channel,
            "status": ticket.status.value,
            "fault_level": ticket.fault_level,
            "intent": ticket.intent,
            "intermittent": ticket.intermittent_fault,
            "summary": ticket.summary,
            "warranty": {
                "tier": ticket.warranty_status,
                "reason": ticket.warranty_reason,
                "sign_for_date": ticket.sign_for_date.isoformat() if ticket.sign_for_date else None,
            },
            "customer": {
                "id": customer.id if customer else None,
                "display_name": customer.display_name if customer else None,
            },
            "engineer": staff_view(engineer) if engineer else None,
            "times": {column: iso(getattr(ticket, column)) for column in TIME_COLUMNS},
            "deadlines": deadlines,
        }

    async def ticket(self, number: str) -> dict[str, Any]:
        """Everything the engineer's ticket page shows; `TicketError` not_found if unknown."""
        async with self.sessionmaker() as session:
            ticket = (await load_ticket(self.desk, session, number=number, for_update=False)).ticket
            view = await self._summary(session, ticket)
            messages = list(
                (
                    await session.execute(
                        select(Message)
                        .where(Message.ticket_id == ticket.id)
                        .order_by(Message.sent_at, Message.id)
                    )
                ).scalars()
            )
            events = await events_of(session, ticket.id)
            view["aftercare"] = await aftercare_view(session, ticket, self.desk.policy)
            state = TicketState.from_events(events)
            view["events"] = [event_view(e) for e in events]
            now = self.desk.now()
            view["delivery"] = await delivery_view(
                session,
                ticket,
                self.desk.policy,
                state,
                now,
                self.desk.calendar.local_date(now),
                view["events"],
            )
            view["timers"] = await reminders.ticket_timers(session, ticket.id)
        view["messages"] = [message_view(m) for m in messages]
        view["state"] = state_view(state)
        view["drafts"] = pending_drafts(events, messages)
        view["reminders"] = [
            {**event_view(e), **reminders.reminder_item(e)}
            for e in events
            if e.event is EventKind.REMINDER_SENT
        ]
        return view

    async def script_lines(self, number: str) -> list[dict[str, str | None]]:
        """The script lines rendered for this ticket (the console's prompt buttons)."""
        async with self.sessionmaker() as session:
            loaded = await load_ticket(self.desk, session, number=number, for_update=False)
        ticket, engineer, address = loaded.ticket, loaded.engineer, loaded.address
        prompter = self.desk.prompter
        lines: list[PromptedLine] = []
        if engineer is not None:
            lines.append(prompter.greeting(engineer.name, engineer.staff_no, ticket.channel))
        lines.extend(prompter.fixed(key, ticket.channel) for key in PROMPT_LINES)
        lines.append(prompter.review_invitation(ticket.channel, address))
        lines.append(prompter.satisfaction_survey(ticket.channel, address))
        return [line.to_dict() for line in lines]

    async def reminders_for(
        self, staff_no: str, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Reminders addressed to `staff_no`, newest first (at most 200)."""
        async with self.sessionmaker() as session:
            query = (
                select(TicketEvent, Ticket.number)
                .join(Ticket, TicketEvent.ticket_id == Ticket.id)
                .where(TicketEvent.event == EventKind.REMINDER_SENT)
                .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
                .limit(2000)
            )
            if since is not None:
                query = query.where(TicketEvent.at >= since)
            rows = (await session.execute(query)).all()
        mine = [
            {
                **event_view(event),
                "ticket": number,
                "label": reminders.reminder_item(event)["label"],
            }
            for event, number in rows
            if (event.data or {}).get("to") == staff_no
        ]
        return mine[:200]

    # -- reminders as people see them (bot.lifecycle.reminders) ----------------------------

    async def reminder_inbox(self, staff_no: str, limit: int = 100) -> dict[str, Any]:
        async with self.sessionmaker() as session:
            return await reminders.inbox(session, staff_no, limit)

    async def reminder_count(self, staff_no: str) -> int:
        async with self.sessionmaker() as session:
            return await reminders.unread_count(session, staff_no)

    async def mark_reminders_read(self, staff_no: str) -> int:
        try:
            async with self.desk.transaction() as session:
                return await reminders.mark_read(session, staff_no, self.desk.now())
        except IntegrityError:
            # Marked from two tabs at once: the other one made the row; update it.
            async with self.desk.transaction() as session:
                return await reminders.mark_read(session, staff_no, self.desk.now())

    async def queue_reminders(
        self, numbers: Sequence[str], staff_no: str | None
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
        """Each ticket's pending timers, and the viewer's new reminders per ticket."""
        async with self.sessionmaker() as session:
            pending = await reminders.timers_by_ticket(session, numbers)
            unread = await reminders.unread_by_ticket(session, staff_no) if staff_no else {}
        return pending, unread

    async def reminders_overview(self) -> dict[str, Any]:
        async with self.sessionmaker() as session:
            return dict(await reminders.overview(session, self.desk.now()))

    async def awaiting_archive(self, staff_no: str | None) -> list[dict[str, Any]]:
        """Closed tickets not yet archived whose archive timer is set (the queue's last table)."""
        async with self.sessionmaker() as session:
            due = select(Timer.ticket_id).where(
                Timer.kind == TimerKind.ARCHIVE, Timer.status != timers.CANCELLED
            )
            skipped = select(TicketEvent.ticket_id).where(
                TicketEvent.event == EventKind.ARCHIVE_SKIPPED_DUPLICATE
            )
            query = (
                select(Ticket)
                .where(
                    Ticket.status == TicketStatus.CLOSED,
                    Ticket.archived_at.is_(None),
                    Ticket.id.in_(due),
                    Ticket.id.not_in(skipped),
                )
                .order_by(Ticket.closed_at)
                .limit(100)
            )
            if staff_no is not None:
                query = query.join(Engineer, Ticket.assigned_engineer_id == Engineer.id).where(
                    Engineer.staff_no == staff_no
                )
            tickets = list((await session.execute(query)).scalars())
            return [await self._summary(session, t) for t in tickets]

    async def conversation(
        self, channel: str, customer_external_id: str, after_id: int = 0, limit: int = 200
    ) -> list[dict[str, Any]]:
        """The customer's side of the chat: their lines and the agents', oldest first."""
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Message)
                    .join(Ticket, Message.ticket_id == Ticket.id)
                    .join(Customer, Ticket.customer_id == Customer.id)
                    .where(
                        Customer.channel == channel,
                        Customer.external_id == customer_external_id,
                        Message.id > after_id,
                        Message.role.in_(
                            (MessageRole.CUSTOMER, MessageRole.AGENT, MessageRole.SYSTEM)
                        ),
                    )
                    .order_by(Message.id)
                    .limit(limit)
                )
            ).scalars()
            return [public_message_view(m) for m in rows]

    async def message(self, message_id: int) -> dict[str, Any]:
        async with self.sessionmaker() as session:
            message = await session.get(Message, message_id)
        if message is None:
            raise TicketError("not_found", "no_such_message", f"消息 {message_id} 不存在")
        return public_message_view(message)
