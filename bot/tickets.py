"""The ticket lifecycle, channel-blind: every customer line in, every engineer action.

`TicketService.receive(inbound)` is what every channel calls with a customer
message: in one transaction it stores the message (a redelivery with the same
channel external id is a no-op), opens a ticket or joins the customer's open
one, classifies the fault level and intent, assigns the on-duty engineer with
the fewest open tickets, records each step as a ticket event, and has the bot
speak for the engineer: the greeting with name and 工号 at once, and on a rest
day the rest-day notice in the same turn.  Later customer lines are read for
the backup confirmation, the answer to the suggestion request, the
satisfaction rating, and complaint / doubt / emotion cues (which put the
matching line into the engineer's suggested drafts).

The engineer actions (accept, send a draft, start remote, give the solution,
extension, escalate, resolve, close, reassign …) are methods here too; the
JSON API (`bot.api`) is a thin layer over them, the SLA timer handlers live in
`bot.deadlines`, the read-only views in `bot.views`.

Every step is a `TicketEvent`.  The SPEC §4 vocabulary (`ticket_opened` …
`satisfaction_rated`) is what QA's checker reads; the bot's other steps use
the storage's internal kinds, and kinds storage has no member for yet are
stored as ``note`` events with ``data["kind"]`` (`event_kind()` reads both).

Transactions: one per customer message or action.  On PostgreSQL the
customer row (receive) or the ticket row (actions, timers) is locked ``FOR
UPDATE``, so several processes serialise per customer and per ticket; on
SQLite (one process) an asyncio lock serialises this process's writers.
Lines go to the channel only after their transaction committed: a crash
never sends a line that is not in the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import timers
from bot.channels import SenderRegistry
from bot.classify import Classifier
from bot.messages import DeliveryResult, InboundMessage, OutboundMessage
from bot.phrases import backup_answer, satisfaction_label
from bot.presend import PresendChecker, PresendResult
from bot.prompting import CUE_RESPONSES, PromptedLine, Prompter, customer_address
from bot.settings import Settings
from bot.warranty import WarrantyError, assess_warranty, onsite_deadline
from compliance.calendar import AttendedClock, WorkCalendar, as_aware
from compliance.checker import customer_cue_lists
from compliance.matchers import AckMatcher, CueBook, folder_for
from compliance.policy import Policy
from scripts_library import ScriptKey
from storage.models import (
    Customer,
    DeliveryStatus,
    Direction,
    Engineer,
    EventKind,
    Message,
    MessageRole,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from storage.tickets import next_ticket_number_async

log = logging.getLogger("bot.tickets")

OPENED = TicketStatus.OPENED
ACCEPTED = TicketStatus.ACCEPTED
IN_PROGRESS = TicketStatus.IN_PROGRESS
RESOLVED = TicketStatus.RESOLVED
CLOSED = TicketStatus.CLOSED
# Every status but closed: a new customer message joins such a ticket.
ACTIVE: tuple[TicketStatus, ...] = (OPENED, ACCEPTED, IN_PROGRESS, RESOLVED)
# Accepted and being worked on.
WORKING: tuple[TicketStatus, ...] = (ACCEPTED, IN_PROGRESS)

BOT_ACTOR = "bot"
SYSTEM_ACTOR = "system"

# Timer kinds (the handlers are in bot.deadlines).
T_ACCEPT_ENGINEER = "accept_engineer"
T_ACCEPT_MANAGER = "accept_manager"
T_SOLUTION_WARNING = "solution_warning"
T_SOLUTION_DUE = "solution_due"
T_EXTENSION_DUE = "extension_due"
T_PROGRESS = "progress_update"
T_RMA_CHASE = "rma_chase"
T_RMA_PM = "rma_product_manager"
T_ARCHIVE = "archive_due"
T_STABLE_RUN = "stable_run_due"
T_ONSITE = "onsite_due"
OPEN_TICKET_TIMERS: tuple[str, ...] = (
    T_ACCEPT_ENGINEER,
    T_ACCEPT_MANAGER,
    T_SOLUTION_WARNING,
    T_SOLUTION_DUE,
    T_EXTENSION_DUE,
    T_PROGRESS,
    T_RMA_CHASE,
    T_RMA_PM,
    T_STABLE_RUN,
    T_ONSITE,
)

# Internal event kinds the storage enum has no member for: stored as notes.
K_CLASSIFIED = "classified"
K_ASSIGNED = "assigned"
K_BACKUP_NOT_CONFIRMED = "backup_not_confirmed"
K_SUGGESTION_REQUESTED = "suggestion_requested"
K_SUGGESTION_DECLINED = "suggestion_declined"
K_SUGGESTION_RECORDED = "suggestion_recorded"
K_SURVEY_SENT = "survey_sent"
K_DRAFT_SUGGESTED = "draft_suggested"
K_PRESEND_OVERRIDE = "presend_override"
K_STABLE_RUN_STARTED = "stable_run_started"
K_STABLE_RUN_ELAPSED = "stable_run_elapsed"
K_RMA_STARTED = "rma_started"
K_RMA_RETURNED = "rma_returned"
K_ONSITE_SCHEDULED = "onsite_scheduled"
K_WARRANTY_ASSESSED = "warranty_assessed"
K_ARCHIVED = "archived"
K_ARCHIVE_DUPLICATE = "archive_skipped_duplicate"
K_DELIVERY_PROBLEM = "delivery_problem"

# Events that stamp a time column of the ticket (first occurrence wins).
_EVENT_COLUMNS: dict[str, str] = {
    "ticket_accepted": "accepted_at",
    "remote_login": "remote_login_at",
    "solution_given": "solution_given_at",
    "extension_granted": "extension_granted_at",
    "escalated": "escalated_at",
    "resolved": "resolved_at",
    "closed": "closed_at",
    "backup_warning_sent": "backup_warning_sent_at",
    "backup_confirmed": "backup_confirmed_at",
    K_SUGGESTION_REQUESTED: "suggestion_requested_at",
    K_SUGGESTION_DECLINED: "suggestion_declined_at",
    K_ARCHIVED: "archived_at",
}

# What a customer line of a non-text kind reads as in the transcript.
CUSTOMER_PLACEHOLDER = {
    "image": "[图片]",
    "voice": "[语音]",
    "video": "[视频]",
    "file": "[文件]",
    "location": "[位置]",
    "link": "[链接]",
}

ErrorKind = Literal["not_found", "forbidden", "conflict", "refused", "confirm", "invalid"]


class TicketError(Exception):
    """An action that cannot be done now; `kind` says why (the API maps it to a status)."""

    def __init__(self, kind: ErrorKind, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details


# ------------------------------------------------------------------ events --


def event_kind(event: TicketEvent) -> str:
    """The event's kind: the storage enum's value, or a note's ``data["kind"]``."""
    if event.event is EventKind.NOTE and isinstance(event.data, dict) and "kind" in event.data:
        return str(event.data["kind"])
    return event.event.value


def make_event(
    ticket_id: int,
    kind: str,
    at: datetime,
    *,
    actor: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> TicketEvent:
    """A `TicketEvent` of `kind`; a kind the storage enum lacks is kept as a note."""
    payload = dict(data or {})
    try:
        stored = EventKind(kind)
    except ValueError:
        stored = EventKind.NOTE
        payload = {"kind": kind, **payload}
    return TicketEvent(ticket_id=ticket_id, event=stored, at=at, actor=actor, data=payload)


# ----------------------------------------------------------------- results --


@dataclass(frozen=True, slots=True)
class Receipt:
    """What `receive` did with one customer message.

    `replies` are the lines stored in answer to it (the greeting, the survey …),
    already in the transcript with delivery status ``pending``: the channel
    sends them in its answer to this request (WeChat's passive reply) and
    calls `TicketService.record_delivery`, or hands them to
    `TicketService.deliver`.
    """

    ticket_number: str
    ticket_id: int
    message_id: int
    duplicate: bool
    opened: bool
    replies: tuple[OutboundMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class SentLine:
    """A line stored and handed to the channel, with the channel's answer."""

    message_id: int
    text: str
    staff_no: str | None
    prompted_by: str | None
    delivery: DeliveryResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "text": self.text,
            "staff_no": self.staff_no,
            "prompted_by": self.prompted_by,
            "delivery": {"status": self.delivery.status, "detail": self.delivery.detail},
        }


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of an engineer action: lines sent and events recorded."""

    ticket_number: str
    sent: tuple[SentLine, ...] = ()
    events: tuple[str, ...] = ()
    presend: PresendResult | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticket": self.ticket_number,
            "sent": [line.to_dict() for line in self.sent],
            "events": list(self.events),
        }
        if self.presend is not None:
            out["presend"] = self.presend.to_dict()
        out.update(self.data)
        return out


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
    extensions: int = 0
    escalated: bool = False
    solution_given: bool = False
    remote_login: bool = False
    stable_run_until: datetime | None = None
    rma_open: bool = False
    archived: bool = False

    @property
    def remote_allowed(self) -> bool:
        """SCR003: the warning was sent and the customer confirmed the backup."""
        return self.backup_warning_sent and self.backup_confirmed

    @classmethod
    def from_events(cls, events: Iterable[TicketEvent]) -> TicketState:
        state = cls()
        for event in events:
            kind = event_kind(event)
            data = event.data or {}
            if kind == "backup_warning_sent":
                state.backup_warning_sent = True
            elif kind == "backup_confirmed":
                state.backup_confirmed = True
            elif kind == K_SUGGESTION_REQUESTED:
                state.suggestion_requested = True
            elif kind in (K_SUGGESTION_DECLINED, K_SUGGESTION_RECORDED):
                state.suggestion_answered = True
                state.suggestion_declined |= kind == K_SUGGESTION_DECLINED
            elif kind == K_SURVEY_SENT:
                state.survey_sent = True
            elif kind == "satisfaction_rated":
                state.rating = data.get("rating")
            elif kind == "extension_granted":
                state.extensions += 1
            elif kind == "escalated":
                state.escalated = True
            elif kind == "solution_given":
                state.solution_given = True
            elif kind == "remote_login":
                state.remote_login = True
            elif kind == K_STABLE_RUN_STARTED:
                state.stable_run_until = datetime.fromisoformat(str(data["until"]))
            elif kind == K_RMA_STARTED:
                state.rma_open = True
            elif kind == K_RMA_RETURNED:
                state.rma_open = False
            elif kind in (K_ARCHIVED, K_ARCHIVE_DUPLICATE):
                state.archived = True
        return state


# ----------------------------------------------------------------- service --


class TicketService:
    """Ticket lifecycle and prompting over one database; shared by all handlers."""

    def __init__(
        self,
        *,
        settings: Settings,
        policy: Policy,
        calendar: WorkCalendar,
        clock: AttendedClock,
        sessionmaker: async_sessionmaker[AsyncSession],
        prompter: Prompter,
        presend: PresendChecker,
        senders: SenderRegistry,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.calendar = calendar
        self.clock = clock
        self.sessionmaker = sessionmaker
        self.prompter = prompter
        self.presend = presend
        self.senders = senders
        self.classifier = Classifier(policy)
        folder = folder_for(policy)
        # The checker's own customer-side cue lists and matchers (one source of truth).
        self.customer_cues = CueBook(customer_cue_lists(policy), folder)
        self.acks = AckMatcher(policy.phrases.ack_only, folder)
        self.rating_labels = tuple(level.label for level in policy.satisfaction.scale)
        bind = sessionmaker.kw.get("bind")
        dialect = bind.dialect.name if bind is not None else ""
        self.lock_rows = dialect == "postgresql"
        # SQLite has one writer: serialise this process's write transactions
        # rather than let two of them fail on the upgrade to a write lock.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if dialect == "sqlite" else None

    def now(self) -> datetime:
        return as_aware(self.settings.now())

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction (serialised per process on SQLite)."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self.sessionmaker() as session, session.begin():
            yield session

    # ------------------------------------------------------------ receiving --

    async def receive(self, inbound: InboundMessage) -> Receipt:
        """Store a customer message and react to it; a redelivery changes nothing."""
        if inbound.kind == "event":
            raise ValueError("channel events are not customer messages; handle them at the edge")
        if not inbound.external_id:
            raise ValueError("an inbound message needs the channel's external id")
        customer_id = await self._ensure_customer(inbound)
        try:
            async with self.transaction() as session:
                return await self._receive(session, inbound, customer_id)
        except IntegrityError:
            # A concurrent delivery of the same message won the unique
            # constraint; ours rolled back whole (no ticket, no reply).
            receipt = await self._duplicate_receipt(inbound)
            if receipt is None:
                raise
            log.info("redelivery of %s/%s lost the race", inbound.channel, inbound.external_id)
            return receipt

    async def _duplicate_receipt(self, inbound: InboundMessage) -> Receipt | None:
        async with self.sessionmaker() as session:
            row = await _stored_delivery(session, inbound)
        if row is None:
            return None
        message_id, ticket_id, number = row
        return Receipt(number, ticket_id, message_id, duplicate=True, opened=False)

    async def _ensure_customer(self, inbound: InboundMessage) -> int:
        """The customer's row id, created in its own transaction (race-safe)."""
        for _attempt in range(3):
            async with self.sessionmaker() as session:
                found = await session.scalar(
                    select(Customer.id).where(
                        Customer.channel == inbound.channel,
                        Customer.external_id == inbound.customer_id,
                    )
                )
            if found is not None:
                return int(found)
            try:
                async with self.transaction() as session:
                    customer = Customer(
                        channel=inbound.channel,
                        external_id=inbound.customer_id,
                        display_name=inbound.display_name,
                    )
                    session.add(customer)
                    await session.flush()
                    return int(customer.id)
            except IntegrityError:
                continue  # created by a concurrent request: read it back
        raise RuntimeError(f"could not create customer {inbound.channel}/{inbound.customer_id}")

    async def _receive(
        self, session: AsyncSession, inbound: InboundMessage, customer_id: int
    ) -> Receipt:
        query = select(Customer).where(Customer.id == customer_id)
        if self.lock_rows:
            # One customer's messages one after the other, across processes:
            # one open ticket per customer, one answer per message.
            query = query.with_for_update()
        customer = (await session.execute(query)).scalar_one()
        existing = await _stored_delivery(session, inbound)
        if existing is not None:
            message_id, ticket_id, number = existing
            return Receipt(number, ticket_id, message_id, duplicate=True, opened=False)
        if inbound.display_name and customer.display_name != inbound.display_name:
            customer.display_name = inbound.display_name

        now = self.now()
        # A channel clock ahead of ours must not put the question after the answer.
        sent_at = min(as_aware(inbound.sent_at), now)
        text = inbound.text.strip() or CUSTOMER_PLACEHOLDER.get(inbound.kind, "")
        ticket = await self._active_ticket(session, customer.id)
        opened = ticket is None
        if ticket is not None:
            await seed_stamp(session, ticket.id)
        # The message comes after what its ticket has; what it causes, after it.
        sent_at = _stamp(session, sent_at)
        if ticket is None:
            ticket = await self._open_ticket(session, customer, inbound.channel, text, sent_at)
        message = Message(
            ticket_id=ticket.id,
            channel=inbound.channel,
            external_id=inbound.external_id,
            direction=Direction.INBOUND,
            role=MessageRole.CUSTOMER,
            sender=inbound.customer_id,
            sender_name=inbound.display_name,
            text=text,
            kind=inbound.kind,
            sent_at=sent_at,
        )
        session.add(message)
        await session.flush()

        engineer = await self._engineer_of(session, ticket)
        replies: list[OutboundMessage] = []
        address = customer_address(customer.surname, customer.title)
        if opened:
            if engineer is None:
                log.error("ticket %s: no engineer on the roster to greet for", ticket.number)
            else:
                for line in self.prompter.first_turn(
                    engineer.name, engineer.staff_no, ticket.channel, now, address
                ):
                    replies.append(await self.store_line(session, ticket, engineer, line, now))
        else:
            replies.extend(
                await self._react(session, ticket, customer, engineer, message, address, now)
            )
        self._suggest_cue_responses(session, ticket, message, now)
        return Receipt(
            ticket.number,
            ticket.id,
            message.id,
            duplicate=False,
            opened=opened,
            replies=tuple(replies),
        )

    async def _active_ticket(self, session: AsyncSession, customer_id: int) -> Ticket | None:
        query = (
            select(Ticket)
            .where(Ticket.customer_id == customer_id, Ticket.status.in_(ACTIVE))
            .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
            .limit(1)
        )
        if self.lock_rows:
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    async def _open_ticket(
        self, session: AsyncSession, customer: Customer, channel: str, text: str, at: datetime
    ) -> Ticket:
        classification = self.classifier.classify(text)
        engineer = await self._pick_engineer(session)
        number = await next_ticket_number_async(session, at, self.policy.company.ticket_prefix)
        ticket = Ticket(
            number=number,
            channel=channel,
            status=OPENED,
            customer_id=customer.id,
            assigned_engineer_id=engineer.id if engineer else None,
            fault_level=classification.fault_level,
            intent=classification.intent,
            intermittent_fault=classification.intermittent,
            opened_at=at,
        )
        session.add(ticket)
        await session.flush()
        self.record(session, ticket, "ticket_opened", at, actor=BOT_ACTOR)
        self.record(
            session,
            ticket,
            K_CLASSIFIED,
            at,
            actor=BOT_ACTOR,
            data={
                "fault_level": classification.fault_level,
                "fault_level_name": classification.fault_level_name,
                "cue": classification.fault_cue.cue if classification.fault_cue else None,
                "intents": list(classification.intents),
                "intermittent": classification.intermittent,
            },
        )
        if engineer is not None:
            self.record(
                session,
                ticket,
                K_ASSIGNED,
                at,
                actor=BOT_ACTOR,
                data={"staff_no": engineer.staff_no, "reason": "on duty, fewest open tickets"},
            )
        self._schedule_open_timers(session, ticket, at)
        return ticket

    async def _pick_engineer(self, session: AsyncSession) -> Engineer | None:
        """The on-duty engineer with the fewest active tickets (ties: 工号 order)."""
        query = select(Engineer).order_by(Engineer.staff_no)
        if self.lock_rows:
            # Two processes opening tickets at once must not both count the same
            # queue lengths: assignment is one at a time (until commit).
            query = query.with_for_update()
        rows = (await session.execute(query)).scalars()
        engineers = [e for e in rows if "engineer" in e.roles]
        candidates = [e for e in engineers if e.on_duty] or engineers
        if not candidates:
            return None
        rows_by_engineer = await session.execute(
            select(Ticket.assigned_engineer_id, func.count(Ticket.id))
            .where(Ticket.status.in_(ACTIVE))
            .group_by(Ticket.assigned_engineer_id)
        )
        counts: dict[int | None, int] = {row[0]: int(row[1]) for row in rows_by_engineer}
        return min(candidates, key=lambda e: (counts.get(e.id, 0), e.staff_no))

    def _schedule_open_timers(
        self, session: AsyncSession, ticket: Ticket, opened: datetime
    ) -> None:
        """Accept reminders (engineer, then manager) and the working-day 4 / 7 updates."""
        local_day = self.prompter.local_date(opened)
        limit = self.policy.accept_limit_s(self.calendar.day(local_day).working_day)
        due = self.clock.deadline_after(opened, limit, ticket.channel)
        timers.schedule(session, T_ACCEPT_ENGINEER, due, ticket_id=ticket.id)
        manager_due = self.clock.deadline_after(
            due, self.policy.sla.manager_reminder_after_s, ticket.channel
        )
        timers.schedule(session, T_ACCEPT_MANAGER, manager_due, ticket_id=ticket.id)
        first_day = self.calendar.next_working_day(local_day)
        opens = self.clock.hours(ticket.channel).opens or time(0, 0)
        for day_number in self.policy.sla.progress_update_days:
            day = self.calendar.add_working_days(first_day, day_number - 1)
            timers.schedule(
                session,
                T_PROGRESS,
                datetime.combine(day, opens, self.calendar.tz),
                ticket_id=ticket.id,
                payload={"day": day_number},
            )

    async def _react(
        self,
        session: AsyncSession,
        ticket: Ticket,
        customer: Customer,
        engineer: Engineer | None,
        message: Message,
        address: str,
        now: datetime,
    ) -> list[OutboundMessage]:
        """Read a later customer line for the answers the ticket is waiting for."""
        state = await self.state(session, ticket.id)
        text = message.text
        replies: list[OutboundMessage] = []
        answered = False  # the line was an answer the bot took care of
        if state.backup_warning_sent and not state.backup_confirmed:
            answer = backup_answer(text, self.policy.phrases)
            if answer == "confirmed":
                self.record(
                    session,
                    ticket,
                    "backup_confirmed",
                    now,
                    actor=message.sender,
                    data={"message_id": message.id, "source": "customer"},
                )
            elif answer == "denied":
                self.record(
                    session, ticket, K_BACKUP_NOT_CONFIRMED, now, data={"message_id": message.id}
                )
        if state.suggestion_requested and not state.suggestion_answered:
            answered = True
            declined = "suggestion_declined" in self.customer_cues.find(text)
            self.record(
                session,
                ticket,
                K_SUGGESTION_DECLINED if declined else K_SUGGESTION_RECORDED,
                now,
                actor=message.sender,
                data={"message_id": message.id, "suggestion": None if declined else text},
            )
            if not state.survey_sent and engineer is not None:
                survey = self.prompter.satisfaction_survey(ticket.channel, address)
                replies.append(await self.store_line(session, ticket, engineer, survey, now))
        elif state.survey_sent and state.rating is None:
            label = satisfaction_label(text, self.rating_labels)
            if label is not None:
                answered = True
                self.record(
                    session,
                    ticket,
                    "satisfaction_rated",
                    now,
                    actor=message.sender,
                    data={"rating": label, "points": self.policy.satisfaction_points(label)},
                )
                if engineer is not None:
                    thanks = self.prompter.fixed(ScriptKey.THANKS, ticket.channel)
                    replies.append(await self.store_line(session, ticket, engineer, thanks, now))
        if ticket.status is RESOLVED and not answered and not self.is_ack_only(text):
            # The customer writes again after the fix ("又坏了"): the engineer
            # must answer (SLA002), and may have to reopen the case.
            self.record(
                session,
                ticket,
                "reminder_sent",
                now,
                actor=SYSTEM_ACTOR,
                data={
                    "to": engineer.staff_no if engineer else None,
                    "reason": "customer_wrote_after_resolution",
                    "message_id": message.id,
                },
            )
        return replies

    def _suggest_cue_responses(
        self, session: AsyncSession, ticket: Ticket, message: Message, now: datetime
    ) -> None:
        """Complaint / doubt / emotion cues put the matching line in the engineer's drafts."""
        found = self.customer_cues.find(message.text)
        for kind in CUE_RESPONSES:
            hit = found.get(kind)
            if hit is None:
                continue
            line = self.prompter.cue_response(kind, ticket.channel)
            self.suggest_draft(
                session, ticket, line, now, reason=f"{kind}_cue", cue=hit.cue, message_id=message.id
            )

    def is_ack_only(self, text: str) -> bool:
        """A customer line that needs no reply (好的, 收到, 谢谢, an emoji …)."""
        return self.acks.is_ack_only(text)

    # ---------------------------------------------------- building blocks --

    def record(
        self,
        session: AsyncSession,
        ticket: Ticket,
        kind: str,
        at: datetime,
        *,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an event of the ticket, stamping the ticket's time column for it."""
        at = _stamp(session, at)
        session.add(make_event(ticket.id, kind, at, actor=actor, data=data))
        column = _EVENT_COLUMNS.get(kind)
        if column is not None and getattr(ticket, column) is None:
            setattr(ticket, column, at)

    def suggest_draft(
        self,
        session: AsyncSession,
        ticket: Ticket,
        line: PromptedLine,
        at: datetime,
        *,
        reason: str,
        **extra: Any,
    ) -> None:
        """Offer `line` to the engineer as a draft (shown by the API until sent)."""
        self.record(
            session,
            ticket,
            K_DRAFT_SUGGESTED,
            at,
            actor=BOT_ACTOR,
            data={**line.to_dict(), "reason": reason, **extra},
        )

    async def store_line(
        self,
        session: AsyncSession,
        ticket: Ticket,
        speaker: Engineer,
        line: PromptedLine,
        at: datetime,
        *,
        override_reason: str | None = None,
    ) -> OutboundMessage:
        """Store a line spoken for `speaker` (delivery pending); the events it implies too."""
        at = _stamp(session, at)
        message = Message(
            ticket_id=ticket.id,
            channel=ticket.channel,
            external_id=None,
            direction=Direction.OUTBOUND,
            role=MessageRole.AGENT,
            sender=speaker.staff_no,
            sender_name=speaker.name,
            text=line.text,
            sent_at=at,
            delivery_status=DeliveryStatus.PENDING,
            override_reason=override_reason,
            prompted_by=line.key.value if line.key is not None else None,
        )
        session.add(message)
        await session.flush()
        if line.key is ScriptKey.BACKUP_WARNING:
            self.record(
                session,
                ticket,
                "backup_warning_sent",
                at,
                actor=speaker.staff_no,
                data={"message_id": message.id},
            )
        elif line.key is ScriptKey.SUGGESTION_REQUEST:
            self.record(session, ticket, K_SUGGESTION_REQUESTED, at, actor=speaker.staff_no)
        elif line.key is ScriptKey.SATISFACTION_SURVEY:
            self.record(session, ticket, K_SURVEY_SENT, at, actor=speaker.staff_no)
        customer_external = await session.scalar(
            select(Customer.external_id).where(Customer.id == ticket.customer_id)
        )
        return OutboundMessage(
            channel=ticket.channel,
            customer_id=str(customer_external),
            text=line.text,
            staff_no=speaker.staff_no,
            ticket_number=ticket.number,
            prompted_by=message.prompted_by,
            message_id=message.id,
        )

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        """Hand a stored line to its channel's sender and record what became of it."""
        result = await self.senders.deliver(message)
        if message.message_id is not None:
            await self.record_delivery(message.message_id, result)
        return result

    async def record_delivery(self, message_id: int, result: DeliveryResult) -> None:
        """Store a delivery outcome on the message (``blocked_by_channel`` apart from failed)."""
        status = DeliveryStatus(result.status)
        async with self.transaction() as session:
            message = await session.get(Message, message_id)
            if message is None:
                return
            message.delivery_status = status
            message.delivery_attempts = (message.delivery_attempts or 0) + 1
            message.delivery_error = result.detail if result.problem else None
            if result.problem and message.ticket_id is not None:
                session.add(
                    make_event(
                        message.ticket_id,
                        K_DELIVERY_PROBLEM,
                        self.now(),
                        actor=SYSTEM_ACTOR,
                        data={
                            "message_id": message_id,
                            "status": status.value,
                            "detail": result.detail,
                        },
                    )
                )
        if result.problem:
            log.warning("line %d not delivered: %s (%s)", message_id, status.value, result.detail)

    async def deliver_all(self, lines: Sequence[OutboundMessage]) -> tuple[SentLine, ...]:
        sent: list[SentLine] = []
        for line in lines:
            result = await self.deliver(line)
            assert line.message_id is not None
            sent.append(
                SentLine(line.message_id, line.text, line.staff_no, line.prompted_by, result)
            )
        return tuple(sent)

    async def state(self, session: AsyncSession, ticket_id: int) -> TicketState:
        events = (
            await session.execute(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.at, TicketEvent.id)
            )
        ).scalars()
        return TicketState.from_events(events)

    async def _engineer_of(self, session: AsyncSession, ticket: Ticket) -> Engineer | None:
        if ticket.assigned_engineer_id is None:
            return None
        return await session.get(Engineer, ticket.assigned_engineer_id)

    async def managers(self, session: AsyncSession) -> list[Engineer]:
        rows = (await session.execute(select(Engineer).order_by(Engineer.staff_no))).scalars()
        return [e for e in rows if "manager" in e.roles]

    async def load(
        self, session: AsyncSession, number: str, *, for_update: bool = True
    ) -> tuple[Ticket, Customer, Engineer | None]:
        """The ticket (locked on PostgreSQL), its customer and its engineer; 404 if unknown."""
        query = select(Ticket).where(Ticket.number == number)
        if for_update and self.lock_rows:
            query = query.with_for_update()
        ticket = (await session.execute(query)).scalar_one_or_none()
        if ticket is None:
            raise TicketError("not_found", "no_such_ticket", f"工单 {number} 不存在")
        if for_update:
            await seed_stamp(session, ticket.id)
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        return ticket, customer, await self._engineer_of(session, ticket)

    async def _staff(self, session: AsyncSession, staff_no: str) -> Engineer:
        engineer = await session.scalar(select(Engineer).where(Engineer.staff_no == staff_no))
        if engineer is None:
            raise TicketError("forbidden", "unknown_staff", f"工号 {staff_no} 不在花名册中")
        return engineer

    @staticmethod
    def _require_worker(ticket: Ticket, actor: Engineer) -> None:
        """The assigned engineer works the ticket; a manager may act on any."""
        if "manager" in actor.roles or ticket.assigned_engineer_id == actor.id:
            return
        raise TicketError(
            "forbidden", "not_assigned", f"工单 {ticket.number} 未分配给工号 {actor.staff_no}"
        )

    @staticmethod
    def _require_manager(actor: Engineer, what: str) -> None:
        if "manager" not in actor.roles:
            raise TicketError("forbidden", "manager_required", f"{what}须由管理人员操作")

    @staticmethod
    def _require_status(ticket: Ticket, allowed: Iterable[TicketStatus], action: str) -> None:
        allowed = tuple(allowed)
        if ticket.status not in allowed:
            raise TicketError(
                "conflict",
                "wrong_status",
                f"工单 {ticket.number} 当前状态为 {ticket.status.value}，不能{action}",
                ticket_status=ticket.status.value,
                allowed=[s.value for s in allowed],
            )

    @contextlib.asynccontextmanager
    async def _acting(
        self, number: str, staff_no: str, statuses: Iterable[TicketStatus], action: str
    ) -> AsyncIterator[tuple[AsyncSession, Ticket, Customer, Engineer | None, Engineer]]:
        """A transaction on a ticket its engineer (or a manager) may act on in `statuses`."""
        async with self.transaction() as session:
            ticket, customer, engineer = await self.load(session, number)
            actor = await self._staff(session, staff_no)
            self._require_worker(ticket, actor)
            self._require_status(ticket, statuses, action)
            yield session, ticket, customer, engineer, actor

    @staticmethod
    def _working(ticket: Ticket) -> None:
        if ticket.status is ACCEPTED:
            ticket.status = IN_PROGRESS

    # ----------------------------------------------------------------- actions --

    async def accept(self, number: str, staff_no: str) -> ActionResult:
        """The engineer takes the ticket (`ticket_accepted`); the 4 h solution clock starts."""
        async with self._acting(number, staff_no, (OPENED,), "受理") as (
            session,
            ticket,
            *_,
            actor,
        ):
            now = self.now()
            ticket.status = ACCEPTED
            self.record(session, ticket, "ticket_accepted", now, actor=actor.staff_no)
            await timers.cancel(session, ticket.id, (T_ACCEPT_ENGINEER, T_ACCEPT_MANAGER))
            sla = self.policy.sla
            due = self.clock.deadline_after(now, sla.solution_s, ticket.channel)
            lead = min(self.settings.solution_warning_lead_s, sla.solution_s)
            warn = self.clock.deadline_after(now, sla.solution_s - lead, ticket.channel)
            timers.schedule(session, T_SOLUTION_WARNING, warn, ticket_id=ticket.id)
            timers.schedule(session, T_SOLUTION_DUE, due, ticket_id=ticket.id)
            return ActionResult(
                ticket.number, events=("ticket_accepted",), data={"solution_due": due.isoformat()}
            )

    async def check_draft(self, number: str, text: str) -> PresendResult:
        """The pre-send verdict on a draft for this ticket, without sending (as-you-type)."""
        async with self.sessionmaker() as session:
            ticket, customer, _engineer = await self.load(session, number, for_update=False)
            state = await self.state(session, ticket.id)
        result = self.presend.check(text, customer_address(customer.surname, customer.title))
        return self._gate(result, state)

    @staticmethod
    def _gate(result: PresendResult, state: TicketState) -> PresendResult:
        notes: list[str] = []
        if result.mentions_remote and not state.remote_allowed:
            notes.append("backup_confirmation_required")
        if result.asks_suggestion and state.suggestion_requested:
            notes.append("suggestion_already_requested")
        if not notes:
            return result
        return dataclasses.replace(result, notes=tuple(notes))

    async def send_draft(
        self,
        number: str,
        staff_no: str,
        text: str,
        *,
        override_reason: str | None = None,
        prompted_by: str | None = None,
    ) -> ActionResult:
        """Send an engineer's draft after the pre-send check.

        - ``refused``: an error-level hit (spans and a compliant suggestion in
          ``details["presend"]``), or a second suggestion request (SCR006);
        - ``confirm``: a warning-level hit and no `override_reason` (send again
          with one; it is stored on the message);
        - ``conflict`` ``backup_confirmation_required``: the draft asks for
          remote access before the backup confirmation — the warning is sent
          now if it was not yet, the draft is not.
        """
        key = _script_key(prompted_by)
        override = (override_reason or "").strip() or None
        async with self._acting(number, staff_no, ACTIVE, "发送消息") as (
            session,
            ticket,
            customer,
            engineer,
            actor,
        ):
            state = await self.state(session, ticket.id)
            address = customer_address(customer.surname, customer.title)
            result = self._gate(self.presend.check(text, address), state)
            if result.verdict == "refused":
                raise TicketError(
                    "refused", "presend_refused", "草稿包含禁用语，未发送", presend=result.to_dict()
                )
            if "suggestion_already_requested" in result.notes:
                raise TicketError(
                    "refused",
                    "suggestion_already_requested",
                    "已经征求过建议，不能重复追问（客户说暂时没有时更不能），未发送",
                    presend=result.to_dict(),
                )
            if result.verdict == "confirm" and override is None:
                raise TicketError(
                    "confirm",
                    "presend_confirmation_required",
                    "草稿有提醒项：修改后再发，或填写原因（override_reason）确认发送",
                    presend=result.to_dict(),
                )
            now = self.now()
            held = "backup_confirmation_required" in result.notes
            outbound: OutboundMessage | None
            events: list[str] = []
            if held:
                self.record(
                    session,
                    ticket,
                    "remote_requested",
                    now,
                    actor=actor.staff_no,
                    data={"text": text},
                )
                outbound = await self._backup_warning_if_unsent(
                    session, ticket, engineer or actor, state, now
                )
            else:
                # A typed-out script line counts as that line (the backup
                # warning typed by hand unlocks remote access like the button).
                line = PromptedLine(key or result.script_line, text)
                outbound = await self.store_line(
                    session,
                    ticket,
                    actor,
                    line,
                    now,
                    override_reason=override if result.verdict == "confirm" else None,
                )
                if result.verdict == "confirm":
                    self.record(
                        session,
                        ticket,
                        K_PRESEND_OVERRIDE,
                        now,
                        actor=actor.staff_no,
                        data={
                            "message_id": outbound.message_id,
                            "reason": override,
                            "rules": sorted({h.rule for h in result.hits}),
                        },
                    )
                    events.append(K_PRESEND_OVERRIDE)
            number = ticket.number
        sent = await self.deliver_all([outbound]) if outbound is not None else ()
        if held:
            raise TicketError(
                "conflict",
                "backup_confirmation_required",
                "远程操作前须先发送数据备份确认，并等客户确认已备份；草稿未发送",
                presend=result.to_dict(),
                backup_warning_sent=True,
                backup_confirmed=state.backup_confirmed,
                sent=[line.to_dict() for line in sent],
            )
        return ActionResult(number, sent=sent, events=tuple(events), presend=result)

    async def _backup_warning_if_unsent(
        self,
        session: AsyncSession,
        ticket: Ticket,
        speaker: Engineer,
        state: TicketState,
        now: datetime,
    ) -> OutboundMessage | None:
        """Store the data-backup confirmation line unless it was sent already."""
        if state.backup_warning_sent:
            return None
        line = self.prompter.fixed(ScriptKey.BACKUP_WARNING, ticket.channel)
        return await self.store_line(session, ticket, speaker, line, now)

    async def send_backup_warning(self, number: str, staff_no: str) -> ActionResult:
        """Send the data-backup confirmation line (SCR003) now."""
        async with self._acting(number, staff_no, WORKING, "发送数据备份确认") as (
            session,
            ticket,
            _customer,
            engineer,
            actor,
        ):
            line = self.prompter.fixed(ScriptKey.BACKUP_WARNING, ticket.channel)
            outbound = await self.store_line(session, ticket, engineer or actor, line, self.now())
            number = ticket.number
        return ActionResult(
            number, sent=await self.deliver_all([outbound]), events=("backup_warning_sent",)
        )

    async def confirm_backup(self, number: str, staff_no: str, note: str) -> ActionResult:
        """Record a backup confirmation the customer gave elsewhere (e.g. on the phone)."""
        async with self._acting(number, staff_no, WORKING, "记录备份确认") as (
            session,
            ticket,
            *_,
            actor,
        ):
            state = await self.state(session, ticket.id)
            if not state.backup_warning_sent:
                raise TicketError(
                    "conflict",
                    "backup_warning_not_sent",
                    "尚未向客户发送数据备份确认，不能记录客户确认",
                )
            self.record(
                session,
                ticket,
                "backup_confirmed",
                self.now(),
                actor=actor.staff_no,
                data={"note": note, "source": "engineer"},
            )
            return ActionResult(ticket.number, events=("backup_confirmed",))

    async def start_remote(
        self, number: str, staff_no: str, tool: str | None = None
    ) -> ActionResult:
        """Record the remote login, only after the warning was sent and the customer confirmed.

        Before that: ``conflict`` ``backup_confirmation_required``, and the
        warning is sent now if it was not yet (the bot forces it first).
        """
        async with self._acting(number, staff_no, WORKING, "开始远程") as (
            session,
            ticket,
            _customer,
            engineer,
            actor,
        ):
            state = await self.state(session, ticket.id)
            now = self.now()
            warning = None
            if state.remote_allowed:
                self.record(
                    session, ticket, "remote_login", now, actor=actor.staff_no, data={"tool": tool}
                )
                self._working(ticket)
            else:
                self.record(
                    session,
                    ticket,
                    "remote_requested",
                    now,
                    actor=actor.staff_no,
                    data={"tool": tool},
                )
                warning = await self._backup_warning_if_unsent(
                    session, ticket, engineer or actor, state, now
                )
            number = ticket.number
        if state.remote_allowed:
            return ActionResult(number, events=("remote_login",))
        sent = await self.deliver_all([warning]) if warning is not None else ()
        raise TicketError(
            "conflict",
            "backup_confirmation_required",
            "远程登录前须先发送数据备份确认，并等客户确认已备份",
            backup_warning_sent=True,
            backup_confirmed=state.backup_confirmed,
            sent=[line.to_dict() for line in sent],
        )

    async def give_solution(
        self, number: str, staff_no: str, summary: str, onsite_km: float | None = None
    ) -> ActionResult:
        """The plan is given to the customer (`solution_given`); with a distance, the visit."""
        async with self._acting(number, staff_no, WORKING, "给出解决方案") as (
            session,
            ticket,
            customer,
            _engineer,
            actor,
        ):
            now = self.now()
            self.record(
                session,
                ticket,
                "solution_given",
                now,
                actor=actor.staff_no,
                data={"summary": summary},
            )
            self._working(ticket)
            ticket.summary = summary
            await timers.cancel(
                session, ticket.id, (T_SOLUTION_WARNING, T_SOLUTION_DUE, T_EXTENSION_DUE)
            )
            events = ["solution_given"]
            data: dict[str, Any] = {}
            if onsite_km is not None:
                data["onsite"] = self._schedule_onsite(session, ticket, customer, onsite_km, now)
                events.append(K_ONSITE_SCHEDULED)
            return ActionResult(ticket.number, events=tuple(events), data=data)

    def _schedule_onsite(
        self, session: AsyncSession, ticket: Ticket, customer: Customer, km: float, now: datetime
    ) -> dict[str, Any]:
        try:
            deadline = onsite_deadline(self.policy, self.calendar, now, km)
        except WarrantyError as exc:
            raise TicketError("invalid", "bad_field", str(exc), field="distance_km") from None
        ticket.distance_km = km
        info = deadline.to_dict()
        if deadline.due_on is not None:
            line = self.prompter.onsite_appointment(
                deadline.due_on,
                km,
                deadline.working_days,
                ticket.channel,
                customer_address(customer.surname, customer.title),
            )
            info["draft"] = line.to_dict()
            self.suggest_draft(session, ticket, line, now, reason="onsite")
            opens = self.clock.hours(ticket.channel).opens or time(9, 0)
            timers.schedule(
                session,
                T_ONSITE,
                datetime.combine(deadline.due_on, opens, self.calendar.tz),
                ticket_id=ticket.id,
                payload={"due_on": deadline.due_on.isoformat()},
            )
        self.record(session, ticket, K_ONSITE_SCHEDULED, now, data=info)
        return info

    async def schedule_onsite(self, number: str, staff_no: str, distance_km: float) -> ActionResult:
        """The on-site deadline by distance, and the appointment line drafted."""
        async with self._acting(number, staff_no, WORKING, "安排上门") as (
            session,
            ticket,
            customer,
            *_,
        ):
            info = self._schedule_onsite(session, ticket, customer, distance_km, self.now())
            return ActionResult(ticket.number, events=(K_ONSITE_SCHEDULED,), data={"onsite": info})

    async def grant_extension(
        self, number: str, manager_staff_no: str, call_note: str
    ) -> ActionResult:
        """The one extension of the solution time, after the manager called the customer."""
        async with self._acting(number, manager_staff_no, WORKING, "延长方案时效") as (
            session,
            ticket,
            customer,
            _engineer,
            manager,
        ):
            self._require_manager(manager, "延长方案时效")
            state = await self.state(session, ticket.id)
            sla = self.policy.sla
            if state.solution_given:
                raise TicketError("conflict", "solution_already_given", "方案已给出，无需延长")
            if state.escalated:
                raise TicketError("conflict", "already_escalated", "工单已升级至技术部，不能再延长")
            if state.extensions >= sla.max_extensions:
                raise TicketError(
                    "conflict",
                    "extension_limit",
                    f"方案时效只能延长 {sla.max_extensions} 次，"
                    f"请升级至{self.policy.company.technical_department}",
                )
            now = self.now()
            accepted = ticket.accepted_at or now
            used = self.clock.attended_seconds_between(accepted, now, ticket.channel)
            if used > sla.solution_s:
                raise TicketError(
                    "conflict",
                    "solution_deadline_passed",
                    f"已超过方案时效，不能再延长，请升级至{self.policy.company.technical_department}",
                )
            self.record(
                session,
                ticket,
                "extension_granted",
                now,
                actor=manager.staff_no,
                data={"manager": manager.staff_no, "call_note": call_note},
            )
            await timers.cancel(session, ticket.id, (T_SOLUTION_WARNING, T_SOLUTION_DUE))
            due = self.clock.deadline_after(
                accepted, sla.solution_s + sla.extension_s, ticket.channel
            )
            timers.schedule(session, T_EXTENSION_DUE, due, ticket_id=ticket.id)
            call = self.prompter.extension_call(
                manager.name, customer_address(customer.surname, customer.title)
            )
            return ActionResult(
                ticket.number,
                events=("extension_granted",),
                data={"extension_due": due.isoformat(), "call_script": call.text},
            )

    async def escalate(
        self, number: str, staff_no: str, reason: str, *, notify_customer: bool = True
    ) -> ActionResult:
        """Bring in the technical department (`escalated`) and tell the customer."""
        async with self._acting(number, staff_no, (OPENED, *WORKING), "升级") as (
            session,
            ticket,
            customer,
            engineer,
            actor,
        ):
            state = await self.state(session, ticket.id)
            if state.escalated:
                raise TicketError("conflict", "already_escalated", "工单已升级至技术部")
            now = self.now()
            self.escalate_in(session, ticket, now, actor.staff_no, reason, automatic=False)
            lines: list[OutboundMessage] = []
            if notify_customer:
                line = self.prompter.escalation_notice(
                    ticket.number,
                    ticket.channel,
                    customer_address(customer.surname, customer.title),
                )
                lines.append(await self.store_line(session, ticket, engineer or actor, line, now))
            number = ticket.number
        return ActionResult(number, sent=await self.deliver_all(lines), events=("escalated",))

    def escalate_in(
        self,
        session: AsyncSession,
        ticket: Ticket,
        now: datetime,
        actor: str,
        reason: str,
        *,
        automatic: bool,
    ) -> None:
        """Record `escalated` to the policy's technical department."""
        self.record(
            session,
            ticket,
            "escalated",
            now,
            actor=actor,
            data={
                "to": self.policy.company.technical_department,
                "reason": reason,
                "automatic": automatic,
            },
        )

    async def start_stable_run(
        self, number: str, staff_no: str, intermittent: bool | None = None
    ) -> ActionResult:
        """The fix is in; delivery waits for 24 h of stable running (72 h if intermittent)."""
        async with self._acting(number, staff_no, WORKING, "开始稳定运行观察") as (
            session,
            ticket,
            *_,
            actor,
        ):
            if intermittent is not None:
                ticket.intermittent_fault = intermittent
            sla = self.policy.sla
            hours = sla.intermittent_stable_run_h if ticket.intermittent_fault else sla.stable_run_h
            now = self.now()
            # Servers run around the clock: wall-clock hours, not attended time.
            until = now + timedelta(hours=hours)
            self.record(
                session,
                ticket,
                K_STABLE_RUN_STARTED,
                now,
                actor=actor.staff_no,
                data={
                    "until": until.isoformat(),
                    "hours": hours,
                    "intermittent": ticket.intermittent_fault,
                },
            )
            self._working(ticket)
            await timers.cancel(session, ticket.id, (T_STABLE_RUN,))
            timers.schedule(session, T_STABLE_RUN, until, ticket_id=ticket.id)
            return ActionResult(
                ticket.number,
                events=(K_STABLE_RUN_STARTED,),
                data={"stable_until": until.isoformat(), "hours": hours},
            )

    async def resolve(
        self, number: str, staff_no: str, *, ask_suggestion: bool = True
    ) -> ActionResult:
        """The problem is solved: `resolved`, thanks and responsibility (SCR004/5), then one
        suggestion request (never a second one) — or, without it, the satisfaction survey."""
        async with self._acting(number, staff_no, WORKING, "结单（已解决）") as (
            session,
            ticket,
            customer,
            engineer,
            actor,
        ):
            state = await self.state(session, ticket.id)
            now = self.now()
            if state.stable_run_until is not None and now < state.stable_run_until:
                raise TicketError(
                    "conflict",
                    "stable_run_pending",
                    f"交付前须确认服务器稳定运行至 {state.stable_run_until.isoformat()}",
                    stable_until=state.stable_run_until.isoformat(),
                )
            events: list[str] = []
            if not state.solution_given:
                # The fix is the plan: a ticket resolved without a separate plan
                # still gave its solution (SLA004 reads solution_given).
                self.record(
                    session,
                    ticket,
                    "solution_given",
                    now,
                    actor=actor.staff_no,
                    data={"summary": ticket.summary, "implied_by": "resolved"},
                )
                events.append("solution_given")
            ticket.status = RESOLVED
            self.record(session, ticket, "resolved", now, actor=actor.staff_no)
            events.append("resolved")
            await timers.cancel(
                session,
                ticket.id,
                (T_SOLUTION_WARNING, T_SOLUTION_DUE, T_EXTENSION_DUE, T_PROGRESS),
            )
            speaker = engineer or actor
            lines = [
                await self.store_line(session, ticket, speaker, line, now)
                for line in self.prompter.closing_lines(ticket.channel)
            ]
            if ask_suggestion and not state.suggestion_requested:
                line = self.prompter.fixed(ScriptKey.SUGGESTION_REQUEST, ticket.channel)
                lines.append(await self.store_line(session, ticket, speaker, line, now))
                events.append(K_SUGGESTION_REQUESTED)
            elif not state.survey_sent:
                address = customer_address(customer.surname, customer.title)
                survey = self.prompter.satisfaction_survey(ticket.channel, address)
                lines.append(await self.store_line(session, ticket, speaker, survey, now))
                events.append(K_SURVEY_SENT)
            number = ticket.number
        return ActionResult(number, sent=await self.deliver_all(lines), events=tuple(events))

    async def close(self, number: str, staff_no: str, summary: str | None = None) -> ActionResult:
        """Close the ticket (`closed`); the knowledge-base archive is due within 2 working days.

        Refused while the customer's last message is unanswered: closing on a
        waiting customer is walking away (LNG004).
        """
        async with self._acting(number, staff_no, ACTIVE, "关闭") as (session, ticket, *_, actor):
            last = (
                await session.execute(
                    select(Message)
                    .where(Message.ticket_id == ticket.id)
                    .order_by(Message.sent_at.desc(), Message.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            state = await self.state(session, ticket.id)
            waiting = (
                last is not None
                and last.role is MessageRole.CUSTOMER
                and not self.is_ack_only(last.text)
                # The rating itself needs no answer beyond the bot's thanks.
                and not (
                    state.rating is not None
                    and satisfaction_label(last.text, self.rating_labels) == state.rating
                )
            )
            if waiting:
                assert last is not None
                raise TicketError(
                    "conflict",
                    "customer_waiting",
                    "客户的最后一条消息还没有回复，不能关闭工单",
                    message_id=last.id,
                )
            now = self.now()
            ticket.status = CLOSED
            if summary:
                ticket.summary = summary
            self.record(
                session, ticket, "closed", now, actor=actor.staff_no, data={"summary": summary}
            )
            await timers.cancel(session, ticket.id, OPEN_TICKET_TIMERS)
            due_day = self.calendar.add_working_days(
                self.prompter.local_date(now), self.policy.sla.archive_within_working_days
            )
            closes = self.clock.hours(ticket.channel).closes or time(23, 59)
            due = datetime.combine(due_day, closes, self.calendar.tz)
            timers.schedule(session, T_ARCHIVE, due, ticket_id=ticket.id)
            return ActionResult(
                ticket.number, events=("closed",), data={"archive_due": due.isoformat()}
            )

    async def archive(
        self, number: str, staff_no: str, duplicate_of: str | None = None
    ) -> ActionResult:
        """File the solution in the knowledge base, or record it as a duplicate (not filed)."""
        async with self._acting(number, staff_no, (CLOSED,), "归档") as (
            session,
            ticket,
            *_,
            actor,
        ):
            state = await self.state(session, ticket.id)
            if state.archived:
                raise TicketError("conflict", "already_archived", "工单已归档")
            kind = K_ARCHIVE_DUPLICATE if duplicate_of else K_ARCHIVED
            self.record(
                session,
                ticket,
                kind,
                self.now(),
                actor=actor.staff_no,
                data={"duplicate_of": duplicate_of},
            )
            await timers.cancel(session, ticket.id, (T_ARCHIVE,))
            return ActionResult(ticket.number, events=(kind,))

    async def reassign(self, number: str, manager_staff_no: str, to_staff_no: str) -> ActionResult:
        """A manager hands the ticket to another engineer, who greets the customer."""
        async with self._acting(number, manager_staff_no, ACTIVE, "改派") as (
            session,
            ticket,
            _customer,
            previous,
            manager,
        ):
            self._require_manager(manager, "改派工单")
            target = await self._staff(session, to_staff_no)
            if "engineer" not in target.roles:
                raise TicketError(
                    "invalid", "not_an_engineer", f"工号 {to_staff_no} 不是运维工程师", field="to"
                )
            if previous is not None and previous.id == target.id:
                raise TicketError("conflict", "same_engineer", f"工单已分配给工号 {to_staff_no}")
            now = self.now()
            ticket.assigned_engineer_id = target.id
            self.record(
                session,
                ticket,
                "reassigned",
                now,
                actor=manager.staff_no,
                data={"from": previous.staff_no if previous else None, "to": target.staff_no},
            )
            line = self.prompter.greeting(target.name, target.staff_no, ticket.channel)
            outbound = await self.store_line(session, ticket, target, line, now)
            number = ticket.number
        return ActionResult(number, sent=await self.deliver_all([outbound]), events=("reassigned",))

    async def rma(
        self, number: str, staff_no: str, action: str, vendor: str | None = None
    ) -> ActionResult:
        """The part went to the vendor (``start``: chase every 3 days, product manager after
        15 days) or came back (``returned``)."""
        if action not in ("start", "returned"):
            raise TicketError(
                "invalid",
                "bad_field",
                f"action 须为 start 或 returned，收到 {action!r}",
                field="action",
            )
        async with self._acting(number, staff_no, WORKING, "原厂保修跟进") as (
            session,
            ticket,
            *_,
            actor,
        ):
            state = await self.state(session, ticket.id)
            now = self.now()
            sla = self.policy.sla
            if action == "start":
                if state.rma_open:
                    raise TicketError("conflict", "rma_open", "原厂保修已在进行中")
                self.record(
                    session,
                    ticket,
                    K_RMA_STARTED,
                    now,
                    actor=actor.staff_no,
                    data={"vendor": vendor},
                )
                self._working(ticket)
                timers.schedule(
                    session,
                    T_RMA_CHASE,
                    now + timedelta(days=sla.rma_chase_every_days),
                    ticket_id=ticket.id,
                    payload={"chase": 1},
                )
                timers.schedule(
                    session,
                    T_RMA_PM,
                    now + timedelta(days=sla.rma_product_manager_after_days),
                    ticket_id=ticket.id,
                )
                return ActionResult(ticket.number, events=(K_RMA_STARTED,))
            if not state.rma_open:
                raise TicketError("conflict", "rma_not_open", "没有进行中的原厂保修")
            self.record(session, ticket, K_RMA_RETURNED, now, actor=actor.staff_no)
            await timers.cancel(session, ticket.id, (T_RMA_CHASE, T_RMA_PM))
            return ActionResult(ticket.number, events=(K_RMA_RETURNED,))

    async def assess_warranty(
        self, number: str, staff_no: str, signed_for: date, exclusions: Sequence[str]
    ) -> ActionResult:
        """Work out and record the warranty tier of the ticket's unit."""
        async with self._acting(number, staff_no, ACTIVE, "判定保修") as (
            session,
            ticket,
            *_,
            actor,
        ):
            reported = self.prompter.local_date(ticket.opened_at)
            try:
                result = assess_warranty(self.policy.warranty, signed_for, reported, exclusions)
            except WarrantyError as exc:
                raise TicketError("invalid", "bad_field", str(exc)) from None
            ticket.sign_for_date = signed_for
            ticket.warranty_status = result.tier
            ticket.warranty_reason = result.reason
            self.record(
                session,
                ticket,
                K_WARRANTY_ASSESSED,
                self.now(),
                actor=actor.staff_no,
                data=result.to_dict(),
            )
            return ActionResult(
                ticket.number, events=(K_WARRANTY_ASSESSED,), data={"warranty": result.to_dict()}
            )

    async def forget_customer(self, channel: str, customer_external_id: str) -> bool:
        """Delete a customer's personal data (WeChat unsubscribe); tickets keep an
        anonymised reference.  False when the customer is unknown."""
        async with self.transaction() as session:
            customer = await session.scalar(
                select(Customer).where(
                    Customer.channel == channel, Customer.external_id == customer_external_id
                )
            )
            if customer is None:
                return False
            customer.anonymise(self.now())
            await session.execute(
                update(Message)
                .where(
                    Message.ticket_id.in_(
                        select(Ticket.id).where(Ticket.customer_id == customer.id)
                    ),
                    Message.role == MessageRole.CUSTOMER,
                )
                .values(sender=customer.external_id, sender_name=None)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(TicketEvent)
                .where(
                    TicketEvent.ticket_id.in_(
                        select(Ticket.id).where(Ticket.customer_id == customer.id)
                    ),
                    TicketEvent.actor == customer_external_id,
                )
                .values(actor=customer.external_id)
                .execution_options(synchronize_session=False)
            )
            return True

    async def find_staff(self, staff_no: str) -> Engineer | None:
        """The roster row of a 工号, or None."""
        async with self.sessionmaker() as session:
            return await session.scalar(select(Engineer).where(Engineer.staff_no == staff_no))


_TICK = timedelta(milliseconds=1)


async def _stored_delivery(
    session: AsyncSession, inbound: InboundMessage
) -> tuple[int, int, str] | None:
    """(message id, ticket id, ticket number) of a message already stored under the
    channel's id for it: the same delivery seen before."""
    row = (
        await session.execute(
            select(Message.id, Ticket.id, Ticket.number)
            .join(Ticket, Message.ticket_id == Ticket.id)
            .where(
                Message.channel == inbound.channel,
                Message.external_id == inbound.external_id,
            )
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


async def seed_stamp(session: AsyncSession, ticket_id: int) -> None:
    """Make this transaction record after everything the ticket already has."""
    last_message = await session.scalar(
        select(func.max(Message.sent_at)).where(Message.ticket_id == ticket_id)
    )
    last_event = await session.scalar(
        select(func.max(TicketEvent.at)).where(TicketEvent.ticket_id == ticket_id)
    )
    known = [as_aware(t) for t in (last_message, last_event, session.info.get("bot_last_at")) if t]
    if known:
        session.info["bot_last_at"] = max(known)


def _stamp(session: AsyncSession, at: datetime) -> datetime:
    """`at`, or 1 ms after what this transaction recorded last.

    One step records several things at the same moment (the resolution, then
    the thanks line, then the responsibility line); distinct, increasing
    times keep that order in every transcript, whatever sorts it.
    """
    last: datetime | None = session.info.get("bot_last_at")
    if last is not None and at <= last:
        at = last + _TICK
    session.info["bot_last_at"] = at
    return at


def _script_key(value: str | None) -> ScriptKey | None:
    if value is None:
        return None
    try:
        return ScriptKey(value)
    except ValueError:
        known = ", ".join(k.value for k in ScriptKey)
        raise TicketError(
            "invalid",
            "bad_field",
            f"prompted_by must be a script line key ({known})",
            field="prompted_by",
        ) from None
