"""A customer line in: store it, open or join the ticket, and answer what needs answering.

`receive` is what every channel calls with a customer message. In one transaction — with
the customer row and the channel's own idempotency record (`Before`), so a refused
message leaves no row at all — it stores the message (a redelivery with the same channel
id changes nothing), opens a ticket — classified, assigned to the on-duty engineer with
the fewest open tickets, its accept and progress timers set — or joins the customer's
open one, and has the bot speak for the engineer: the greeting with name and 工号 at once,
and on a rest day the rest-day notice in the same turn. Out of hours, on a rest day or
marked urgent, the ticket goes to the engineer on duty (`bot.lifecycle.oncall`); in a
fault-level profile its response clock starts (`bot.lifecycle.levels`); a complaint
opens a tracked complaint (`bot.lifecycle.complaints`). A later line is read for what
the ticket waits for (the backup confirmation, the answer to the suggestion request, the
rating), and complaint / doubt / emotion cues put the matching line in the engineer's
drafts.  The lines stored in answer are in the `Receipt`, pending: the channel
sends them in its reply or through `bot.lifecycle.outbox.deliver`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import has_role, suggest_draft
from bot.lifecycle.attachments import inbound_attachment
from bot.lifecycle.complaints import track_customer_complaint
from bot.lifecycle.desk import Desk
from bot.lifecycle.frontdesk import (
    capture_customer,
    first_lines,
    queried_ticket,
    status_answer,
    status_query,
)
from bot.lifecycle.journal import TicketState, record, seed_stamp, stamp, state_of
from bot.lifecycle.levels import schedule_response
from bot.lifecycle.oncall import record_routing, route, urgent_later
from bot.lifecycle.outbox import replies_to, store_line
from bot.lifecycle.satisfaction import closed_awaiting, read_rating
from bot.lifecycle.vocabulary import (
    ACTIVE,
    BOT_ACTOR,
    CLOSED,
    OPENED,
    RESOLVED,
    SYSTEM_ACTOR,
    EngineerRole,
    EventKind,
    TimerKind,
)
from bot.messages import InboundMessage, OutboundMessage
from bot.phrases import backup_answer
from bot.prompting import CUE_RESPONSES, customer_address
from compliance.calendar import as_aware
from storage.models import Customer, Direction, Engineer, Message, MessageRole, Ticket
from storage.tickets import next_ticket_number_async

log = logging.getLogger("bot.lifecycle")

# What a customer line of a non-text kind reads as in the transcript.
CUSTOMER_PLACEHOLDER = {
    "image": "[图片]",
    "voice": "[语音]",
    "video": "[视频]",
    "file": "[文件]",
    "location": "[位置]",
    "link": "[链接]",
}


@dataclass(frozen=True, slots=True)
class Receipt:
    """What `receive` did with one customer message.

    `replies` are the lines stored in answer to it (the greeting, the survey …),
    already in the transcript with delivery status ``pending``: the channel
    sends them in its answer to this request (WeChat's passive reply) and
    calls `TicketService.record_delivery`, or hands them to
    `TicketService.deliver`.  A redelivery (`duplicate`) stores nothing new:
    `earlier_replies` are the lines its first delivery was answered with, for
    a channel that must answer the redelivery the same way.
    """

    ticket_number: str
    ticket_id: int
    message_id: int
    duplicate: bool
    opened: bool
    replies: tuple[OutboundMessage, ...] = ()
    earlier_replies: tuple[OutboundMessage, ...] = ()


# A channel's own write in the message's transaction (the bridge's event record):
# it may raise to refuse the message, and then nothing of it is stored.
Before = Callable[[AsyncSession], Awaitable[None]]

_ATTEMPTS = 3


async def receive(desk: Desk, inbound: InboundMessage, *, before: Before | None = None) -> Receipt:
    """Store a customer message and react to it; a redelivery changes nothing.

    One transaction: `before` (the channel's idempotency record), the customer row,
    the message and all it causes commit together or not at all."""
    if inbound.kind == "event":
        raise ValueError("channel events are not customer messages; handle them at the edge")
    if not inbound.external_id:
        raise ValueError("an inbound message needs the channel's external id")
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with desk.transaction() as session:
                if before is not None:
                    await before(session)
                customer = await _customer(desk, session, inbound)
                return await _receive(desk, session, inbound, customer)
        except IntegrityError:
            # A concurrent delivery of the same message (or the first message of the
            # same new customer) won a unique constraint; ours rolled back whole (no
            # customer, no ticket, no reply).  The next attempt sees what it stored.
            if attempt == _ATTEMPTS:
                raise
            log.info("delivery of %s/%s lost a race; again", inbound.channel, inbound.external_id)
    raise AssertionError("unreachable")  # pragma: no cover


async def _customer(desk: Desk, session: AsyncSession, inbound: InboundMessage) -> Customer:
    """The customer's row, created when new, locked on PostgreSQL: one customer's
    messages one after the other, across processes (one open ticket, one answer each)."""
    query = select(Customer).where(
        Customer.channel == inbound.channel, Customer.external_id == inbound.customer_id
    )
    if desk.lock_rows:
        query = query.with_for_update()
    customer = (await session.execute(query)).scalar_one_or_none()
    if customer is None:
        customer = Customer(
            channel=inbound.channel,
            external_id=inbound.customer_id,
            display_name=inbound.display_name,
        )
        session.add(customer)
        await session.flush()
    return customer


async def _stored_delivery(session: AsyncSession, inbound: InboundMessage) -> Receipt | None:
    """The receipt of a message already stored under the channel's id for it."""
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
    if row is None:
        return None
    message_id, ticket_id, number = row
    earlier = await replies_to(session, message_id)
    return Receipt(
        number, ticket_id, message_id, duplicate=True, opened=False, earlier_replies=earlier
    )


async def _receive(
    desk: Desk, session: AsyncSession, inbound: InboundMessage, customer: Customer
) -> Receipt:
    existing = await _stored_delivery(session, inbound)
    if existing is not None:
        return existing
    if inbound.display_name and customer.display_name != inbound.display_name:
        customer.display_name = inbound.display_name

    now = desk.now()
    # A channel clock ahead of ours must not put the question after the answer.
    sent_at = min(as_aware(inbound.sent_at), now)
    text = inbound.text.strip() or CUSTOMER_PLACEHOLDER.get(inbound.kind, "")
    ticket = await _active_ticket(desk, session, customer.id)
    if ticket is None:
        # A late rating (or its reason), or a question about a closed ticket of
        # theirs, joins that ticket: it never opens a new one.
        late = await closed_awaiting(desk, session, customer, text, now)
        if late is not None:
            ticket = late[0]
        elif (asked_no := status_query(text)) is not None:
            asked = await queried_ticket(session, customer, asked_no)
            ticket = asked if asked is not None and asked.status is CLOSED else None
    opened = ticket is None
    on_call = False
    if ticket is not None:
        await seed_stamp(session, ticket.id)
    # The message comes after what its ticket has; what it causes, after it.
    sent_at = stamp(session, sent_at)
    if ticket is None:
        ticket, on_call = await _open_ticket(
            desk, session, customer, inbound.channel, text, sent_at
        )
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
    await capture_customer(session, ticket, customer, message, now)
    # Media is fetched later (never during intake); the pending row is stored now.
    attachment = inbound_attachment(inbound, message.id, ticket.id, now)
    if attachment is not None:
        session.add(attachment)

    engineer = (
        await session.get(Engineer, ticket.assigned_engineer_id)
        if ticket.assigned_engineer_id is not None
        else None
    )
    replies: list[OutboundMessage] = []
    address = customer_address(customer.surname, customer.title)
    asked_no = status_query(text)
    asked = await queried_ticket(session, customer, asked_no) if asked_no else None
    if opened:
        if engineer is None:
            log.error("ticket %s: no engineer on the roster to greet for", ticket.number)
        replies.extend(
            await first_lines(
                desk, session, ticket, engineer, now, address, message.id, on_call=on_call
            )
        )
    elif asked is not None:
        replies.append(await status_answer(desk, session, ticket, asked, now, message.id))
    else:
        state = await state_of(session, ticket.id)
        replies.extend(await _react(desk, session, ticket, state, engineer, message, address, now))
        if ticket.status is not CLOSED:
            replies.extend(await urgent_later(desk, session, ticket, engineer, message, now))
    if ticket.status is not CLOSED:
        _suggest_cue_responses(desk, session, ticket, message, now)
        await track_customer_complaint(desk, session, ticket, message, now)
    return Receipt(
        ticket.number,
        ticket.id,
        message.id,
        duplicate=False,
        opened=opened,
        replies=tuple(replies),
    )


async def _active_ticket(desk: Desk, session: AsyncSession, customer_id: int) -> Ticket | None:
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id, Ticket.status.in_(ACTIVE))
        .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
        .limit(1)
    )
    if desk.lock_rows:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def _open_ticket(
    desk: Desk, session: AsyncSession, customer: Customer, channel: str, text: str, at: datetime
) -> tuple[Ticket, bool]:
    """The new ticket, and whether the engineer on duty answers it now (on call, in
    their window)."""
    classification = desk.classifier.classify(text)
    routing = await route(desk, session, text, at)
    engineer = routing.engineer if routing and routing.engineer else None
    engineer = engineer or await _pick_engineer(desk, session)
    number = await next_ticket_number_async(session, at, desk.policy.company.ticket_prefix)
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
    record(session, ticket, EventKind.TICKET_OPENED, at, actor=BOT_ACTOR)
    record(
        session,
        ticket,
        EventKind.CLASSIFIED,
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
        record(
            session,
            ticket,
            EventKind.ASSIGNED,
            at,
            actor=BOT_ACTOR,
            data={
                "staff_no": engineer.staff_no,
                "reason": "on call (seed 003)"
                if routing and routing.engineer
                else "on duty, fewest open tickets",
            },
        )
    if routing is not None:
        await record_routing(session, ticket, routing, at)
    _schedule_open_timers(desk, session, ticket, at)
    schedule_response(desk, session, ticket)
    on_call = routing is not None and routing.engineer is not None and routing.in_window
    return ticket, on_call


async def _pick_engineer(desk: Desk, session: AsyncSession) -> Engineer | None:
    """The on-duty engineer with the fewest active tickets (ties: 工号 order)."""
    query = select(Engineer).order_by(Engineer.staff_no)
    if desk.lock_rows:
        # Two processes opening tickets at once must not both count the same
        # queue lengths: assignment is one at a time (until commit).
        query = query.with_for_update()
    rows = (await session.execute(query)).scalars()
    engineers = [e for e in rows if has_role(e, EngineerRole.ENGINEER)]
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
    desk: Desk, session: AsyncSession, ticket: Ticket, opened: datetime
) -> None:
    """Accept reminders (engineer, then manager) and the working-day 4 / 7 updates."""
    policy, calendar, clock = desk.policy, desk.calendar, desk.clock
    local_day = desk.prompter.local_date(opened)
    limit = policy.accept_limit_s(calendar.day(local_day).working_day)
    due = clock.deadline_after(opened, limit, ticket.channel)
    timers.schedule(session, TimerKind.ACCEPT_ENGINEER, due, ticket_id=ticket.id)
    manager_due = clock.deadline_after(due, policy.sla.manager_reminder_after_s, ticket.channel)
    timers.schedule(session, TimerKind.ACCEPT_MANAGER, manager_due, ticket_id=ticket.id)
    first_day = calendar.next_working_day(local_day)
    opens = clock.hours(ticket.channel).opens or time(0, 0)
    for day_number in policy.sla.progress_update_days:
        day = calendar.add_working_days(first_day, day_number - 1)
        timers.schedule(
            session,
            TimerKind.PROGRESS,
            datetime.combine(day, opens, calendar.tz),
            ticket_id=ticket.id,
            payload={"day": day_number},
        )


async def _react(
    desk: Desk,
    session: AsyncSession,
    ticket: Ticket,
    state: TicketState,
    engineer: Engineer | None,
    message: Message,
    address: str,
    now: datetime,
) -> list[OutboundMessage]:
    """Read a later customer line for the answers the ticket is waiting for."""
    text = message.text
    replies: list[OutboundMessage] = []
    answered = False  # the line was an answer the bot took care of
    if state.backup_warning_sent and not state.backup_confirmed:
        answer = backup_answer(text, desk.policy.phrases)
        if answer == "confirmed":
            record(
                session,
                ticket,
                EventKind.BACKUP_CONFIRMED,
                now,
                actor=message.sender,
                data={"message_id": message.id, "source": "customer"},
            )
        elif answer == "denied":
            record(
                session,
                ticket,
                EventKind.BACKUP_NOT_CONFIRMED,
                now,
                data={"message_id": message.id},
            )
    # Once the survey went out while the suggestion question stood (its timer), the
    # customer's lines are read for the rating and its reason, never as a suggestion.
    if state.suggestion_requested and not state.suggestion_answered and not state.survey_sent:
        answered = True
        declined = "suggestion_declined" in desk.customer_cues.find(text)
        record(
            session,
            ticket,
            EventKind.SUGGESTION_DECLINED if declined else EventKind.SUGGESTION_RECORDED,
            now,
            actor=message.sender,
            data={"message_id": message.id, "suggestion": None if declined else text},
        )
        if not state.survey_sent and engineer is not None:
            survey = desk.prompter.satisfaction_survey(ticket.channel, address)
            replies.append(
                await store_line(session, ticket, engineer, survey, now, in_reply_to=message.id)
            )
    else:
        taken, rating_replies = await read_rating(
            desk, session, ticket, state, engineer, message, address, now
        )
        answered = answered or taken
        replies.extend(rating_replies)
    if ticket.status is RESOLVED and not answered and not desk.is_ack_only(text):
        # The customer writes again after the fix ("又坏了"): the engineer
        # must answer (SLA002), and may have to reopen the case.
        record(
            session,
            ticket,
            EventKind.REMINDER_SENT,
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
    desk: Desk, session: AsyncSession, ticket: Ticket, message: Message, now: datetime
) -> None:
    """Complaint / doubt / emotion cues put the matching line in the engineer's drafts."""
    found = desk.customer_cues.find(message.text)
    for kind in CUE_RESPONSES:
        hit = found.get(kind)
        if hit is None:
            continue
        line = desk.prompter.cue_response(kind, ticket.channel)
        suggest_draft(
            session, ticket, line, now, reason=f"{kind}_cue", cue=hit.cue, message_id=message.id
        )
