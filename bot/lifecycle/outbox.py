"""Lines to the customer: stored first, handed to the channel after the commit.

`store_line` puts a line in the transcript (delivery ``pending``) inside the
step's transaction, with the events a script line implies (the backup warning
sent, the suggestion asked for, the survey sent).  Only after that transaction
committed does `deliver` hand it to its channel's sender and `record_delivery`
store what became of it: a crash never sends a line that is not in the
transcript, and a line the channel did not take leaves a ``delivery_problem``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import make_event, record, stamp
from bot.lifecycle.vocabulary import SYSTEM_ACTOR, EventKind
from bot.messages import DeliveryResult, OutboundMessage
from bot.prompting import PromptedLine
from scripts_library import ScriptKey
from storage.models import (
    Customer,
    DeliveryStatus,
    Direction,
    Engineer,
    Message,
    MessageRole,
    Ticket,
)

log = logging.getLogger("bot.lifecycle")

# The step a script line is, when it is sent.
_SENDING_RECORDS: dict[ScriptKey, EventKind] = {
    ScriptKey.BACKUP_WARNING: EventKind.BACKUP_WARNING_SENT,
    ScriptKey.SUGGESTION_REQUEST: EventKind.SUGGESTION_REQUESTED,
    ScriptKey.SATISFACTION_SURVEY: EventKind.SURVEY_SENT,
}


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


async def store_line(
    session: AsyncSession,
    ticket: Ticket,
    speaker: Engineer,
    line: PromptedLine,
    at: datetime,
    *,
    override_reason: str | None = None,
    in_reply_to: int | None = None,
) -> OutboundMessage:
    """Store a line spoken for `speaker` (delivery pending) and the step it implies;
    `in_reply_to`: the customer message it answers, stored in the same step."""
    at = stamp(session, at)
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
        in_reply_to_id=in_reply_to,
    )
    session.add(message)
    await session.flush()
    implied = _SENDING_RECORDS.get(line.key) if line.key is not None else None
    if implied is not None:
        # The warning names its line: a confirmation must follow that very line.
        data = {"message_id": message.id} if implied is EventKind.BACKUP_WARNING_SENT else None
        record(session, ticket, implied, at, actor=speaker.staff_no, data=data)
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


async def store_centre_line(
    session: AsyncSession,
    ticket: Ticket,
    line: PromptedLine,
    at: datetime,
    centre: str,
    *,
    in_reply_to: int | None = None,
) -> OutboundMessage:
    """Store a line the service centre says itself (delivery pending): no engineer's
    name on it, so nobody seems to be typing (the out-of-hours notice, a status
    answer).  A ``system`` line: the compliance transcript leaves it out."""
    at = stamp(session, at)
    message = Message(
        ticket_id=ticket.id,
        channel=ticket.channel,
        external_id=None,
        direction=Direction.OUTBOUND,
        role=MessageRole.SYSTEM,
        sender=None,
        sender_name=centre,
        text=line.text,
        sent_at=at,
        delivery_status=DeliveryStatus.PENDING,
        prompted_by=line.key.value if line.key is not None else None,
        in_reply_to_id=in_reply_to,
    )
    session.add(message)
    await session.flush()
    customer_external = await session.scalar(
        select(Customer.external_id).where(Customer.id == ticket.customer_id)
    )
    return OutboundMessage(
        channel=ticket.channel,
        customer_id=str(customer_external),
        text=line.text,
        staff_no=None,
        ticket_number=ticket.number,
        prompted_by=message.prompted_by,
        message_id=message.id,
    )


async def replies_to(
    session: AsyncSession,
    message_id: int,
    statuses: Collection[DeliveryStatus] | None = None,
) -> tuple[OutboundMessage, ...]:
    """The lines stored in answer to customer message `message_id`, in order; with
    `statuses`, only those whose delivery is one of them (no status yet is pending).

    What a redelivery of that message is answered with again, and what a
    channel's passive reply to it carried.
    """
    asked = await session.get(Message, message_id)
    if asked is None:
        return ()
    query = (
        select(Message, Ticket.number)
        .join(Ticket, Message.ticket_id == Ticket.id)
        .where(Message.in_reply_to_id == message_id)
        .order_by(Message.id)
    )
    if statuses is not None:
        query = query.where(_status_in(statuses))
    rows = await session.execute(query)
    return tuple(
        OutboundMessage(
            channel=line.channel,
            customer_id=asked.sender or "",
            text=line.text,
            staff_no=line.sender,
            ticket_number=number,
            prompted_by=line.prompted_by,
            message_id=line.id,
        )
        for line, number in rows
    )


def _status_in(statuses: Collection[DeliveryStatus]) -> ColumnElement[bool]:
    chosen: ColumnElement[bool] = Message.delivery_status.in_(list(statuses))
    if DeliveryStatus.PENDING in statuses:
        chosen = or_(chosen, Message.delivery_status.is_(None))
    return chosen


async def claim_lines(
    desk: Desk,
    message_ids: Collection[int],
    *,
    claimable: Collection[DeliveryStatus],
    to: DeliveryStatus,
) -> set[int]:
    """Move the lines whose delivery is still in `claimable` to `to`, in one statement;
    the ids this call moved.

    Two hand-overs of the same line (a passive reply to WeChat's redelivery, and
    custom/send after a late first delivery) race for it: whoever moves it hands
    it over, the other leaves it out, so a customer never gets a line twice.
    """
    if not message_ids:
        return set()
    async with desk.transaction() as session:
        moved = await session.execute(
            update(Message)
            .where(Message.id.in_(list(message_ids)), _status_in(claimable))
            .values(
                delivery_status=to,
                delivery_attempts=func.coalesce(Message.delivery_attempts, 0) + 1,
            )
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
        return {int(row[0]) for row in moved}


async def deliver(desk: Desk, message: OutboundMessage) -> DeliveryResult:
    """Hand a stored line to its channel's sender and record what became of it."""
    result = await desk.senders.deliver(message)
    if message.message_id is not None:
        await record_delivery(desk, message.message_id, result)
    return result


async def record_delivery(desk: Desk, message_id: int, result: DeliveryResult) -> None:
    """Store a delivery outcome on the message (``blocked_by_channel`` apart from failed)."""
    status = DeliveryStatus(result.status)
    async with desk.transaction() as session:
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
                    EventKind.DELIVERY_PROBLEM,
                    desk.now(),
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


async def journal_line(
    desk: Desk, message_id: int, kind: EventKind, actor: str, data: dict[str, Any]
) -> None:
    """Record a step about one stored line (sent again, settled) on its ticket."""
    async with desk.transaction() as session:
        message = await session.get(Message, message_id)
        if message is None or message.ticket_id is None:
            return
        ticket = await session.get(Ticket, message.ticket_id)
        if ticket is not None:
            record(
                session,
                ticket,
                kind,
                desk.now(),
                actor=actor,
                data={"message_id": message_id, **data},
            )


async def deliver_all(desk: Desk, lines: Sequence[OutboundMessage]) -> tuple[SentLine, ...]:
    """Deliver stored lines in order; what each channel answered."""
    sent: list[SentLine] = []
    for line in lines:
        result = await deliver(desk, line)
        assert line.message_id is not None
        sent.append(SentLine(line.message_id, line.text, line.staff_no, line.prompted_by, result))
    return tuple(sent)
