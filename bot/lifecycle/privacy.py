"""Forgetting a customer, and masking closed tickets past retention.

`forget_in` runs for a WeChat unsubscribe and for an admin's "forget this
customer" (console and API).  In one transaction it erases the customer's
personal data wherever the bot put it, keeping what the service record needs
(see docs/privacy.md for the whole list and the reasons):

- the customer row: channel identity → ``anon:<id>``, name, title, phone gone
  (`Customer.anonymise`);
- their transcript lines: the text is replaced by `ERASED_TEXT` (what they wrote
  may hold an address or a name no pattern finds), the sender becomes the
  anonymous reference; the time, role and kind of each line stay, so the
  response-time rules can still be checked;
- everything else on their tickets — engineers' lines, the ticket summary and
  warranty note, the solution record, event data, timer payloads, finding evidence and messages, QA
  review reasons, exemplar sentences, bridge commands — has every digit of
  phone and ID numbers and the names the customer was known by starred
  (`compliance.masking.erase_pii`);
- message ids that embed the channel identity (a WeChat message without MsgId
  is keyed ``openid:CreateTime``, a web chat line ``visitor:client_id``) become
  ``forgotten:<message id>``; the 公众号 intake journal's entries of theirs are
  deleted; 千牛/京麦 bridge events lose the buyer's ids and their payload;
- open tickets are closed (status and `closed_at`, timers cancelled) and every
  ticket of theirs records `customer_forgotten` with why and by whom: the note.
  No SPEC ``closed`` event is recorded, since no engineer closed the case and
  the checker must not read it as one walking away (LNG004).

`mask_expired_in` is the retention chore: closed tickets whose `closed_at` is
older than `AFTERSALES_RETENTION_DAYS` get their customer lines, event data and
finding evidence passed through `erase_pii`, once (``retention_masked``).

Both erase the customer's images and files and star the internal notes
(`bot.lifecycle.attachments.erase_customer_media`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.attachments import erase_customer_media
from bot.lifecycle.journal import record, seed_stamp
from bot.lifecycle.vocabulary import ACTIVE, CLOSED, SYSTEM_ACTOR, EventKind
from compliance.masking import erase_pii, mask_json
from storage.channel_models import BridgeCommand, BridgeEvent, InboxMessage
from storage.knowledge_models import SolutionRecord
from storage.models import (
    Customer,
    Exemplar,
    Finding,
    Message,
    MessageRole,
    QaReview,
    Ticket,
    TicketEvent,
    Timer,
    TimerStatus,
)

ERASED_TEXT = "〔客户已要求删除个人信息，原文已删除〕"
FORGOTTEN_NOTE = "客户个人信息已删除，未结工单已关闭"
RETENTION_BATCH = 200


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What forgetting one customer did (for the log, the API and the console)."""

    customer_id: int
    tickets: tuple[str, ...]
    closed: tuple[str, ...]
    messages: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer_id,
            "tickets": list(self.tickets),
            "closed": list(self.closed),
            "messages": self.messages,
        }


def _names(customer: Customer) -> tuple[str, ...]:
    names = [customer.display_name or ""]
    if customer.surname:
        names.append(f"{customer.surname}{customer.title or ''}")
    # Longest first, so 王小明 goes before a shorter name inside it.
    return tuple(sorted({n for n in names if len(n) >= 2}, key=len, reverse=True))


def _scrub(value: str | None, names: tuple[str, ...]) -> str | None:
    return erase_pii(value, names) if value else value


async def find_customer(
    session: AsyncSession,
    *,
    lock: bool,
    channel: str | None = None,
    external_id: str | None = None,
    ticket_number: str | None = None,
) -> Customer | None:
    """The customer known to `channel` as `external_id`, or the one of a ticket."""
    query = select(Customer)
    if ticket_number is not None:
        query = query.join(Ticket, Ticket.customer_id == Customer.id).where(
            Ticket.number == ticket_number
        )
    else:
        query = query.where(Customer.channel == channel, Customer.external_id == external_id)
    if lock:
        query = query.with_for_update(of=Customer)
    return (await session.execute(query)).scalar_one_or_none()


async def forget_in(
    session: AsyncSession,
    customer: Customer,
    now: datetime,
    *,
    reason: str,
    actor: str = SYSTEM_ACTOR,
) -> Forgotten:
    """Erase `customer`'s personal data (see the module docstring), in `session`."""
    old_id, channel, names = customer.external_id, customer.channel, _names(customer)
    tickets = list(
        (await session.scalars(select(Ticket).where(Ticket.customer_id == customer.id))).all()
    )
    ticket_ids = [t.id for t in tickets]
    numbers = [t.number for t in tickets]
    customer.anonymise(now)
    anon = customer.external_id

    lines = (
        await session.scalars(
            select(Message).where(
                or_(
                    Message.ticket_id.in_(ticket_ids),
                    (Message.channel == channel) & (Message.sender == old_id),
                )
            )
        )
    ).all()
    for line in lines:
        if line.role is MessageRole.CUSTOMER:
            line.text = ERASED_TEXT if line.text else line.text
            line.sender, line.sender_name = anon, None
        else:
            line.text = erase_pii(line.text, names)
        line.delivery_error = _scrub(line.delivery_error, names)
        line.override_reason = _scrub(line.override_reason, names)
        if line.external_id and old_id in line.external_id:
            line.external_id = f"forgotten:{line.id}"
    await erase_customer_media(session, ticket_ids, names)
    # Findings are keyed by ticket number, or by the customer's id in imported transcripts.
    await _scrub_ticket_records(
        session, ticket_ids, [*numbers, old_id], names, actor_map=(old_id, anon)
    )
    line_ids = [line.id for line in lines]
    for command in (
        await session.scalars(select(BridgeCommand).where(BridgeCommand.message_id.in_(line_ids)))
    ).all():
        command.text = erase_pii(command.text, names)
        command.buyer_uid = anon
        command.conversation_id = anon
    for event in (
        await session.scalars(
            select(BridgeEvent).where(
                BridgeEvent.channel == channel, BridgeEvent.customer_key == old_id
            )
        )
    ).all():
        event.customer_key = event.buyer_uid = event.conversation_id = anon
        event.payload = {"forgotten": True}
    await session.execute(
        delete(InboxMessage).where(
            InboxMessage.channel == channel, InboxMessage.customer_id == old_id
        )
    )

    closed: list[str] = []
    for ticket in tickets:
        was_open = ticket.status in ACTIVE
        ticket.summary = _scrub(ticket.summary, names)
        ticket.warranty_reason = _scrub(ticket.warranty_reason, names)
        await _scrub_solution(session, ticket.id, names)
        if was_open:
            ticket.status = CLOSED
            ticket.closed_at = ticket.closed_at or now
            closed.append(ticket.number)
        await seed_stamp(session, ticket.id)
        record(
            session,
            ticket,
            EventKind.CUSTOMER_FORGOTTEN,
            now,
            actor=actor,
            data={"reason": reason, "note": FORGOTTEN_NOTE, "closed": was_open},
        )
    if ticket_ids:
        for timer in (
            await session.scalars(
                select(Timer).where(
                    Timer.ticket_id.in_(ticket_ids), Timer.status == TimerStatus.PENDING
                )
            )
        ).all():
            timer.status = TimerStatus.CANCELLED
    return Forgotten(customer.id, tuple(numbers), tuple(closed), len(lines))


async def _scrub_solution(session: AsyncSession, ticket_id: int, names: tuple[str, ...]) -> None:
    """The solution record is the engineer's words: kept, with the customer's data starred
    (the search index follows the change)."""
    record = await session.get(SolutionRecord, ticket_id)
    if record is not None:
        record.process = erase_pii(record.process, names)
        record.test_report = erase_pii(record.test_report, names)
        record.problem = _scrub(record.problem, names)
        record.attachments = [erase_pii(ref, names) for ref in record.attachments or []]


async def _scrub_ticket_records(
    session: AsyncSession,
    ticket_ids: list[int],
    sessions: Iterable[str],
    names: tuple[str, ...],
    *,
    actor_map: tuple[str, str] | None = None,
) -> None:
    """Event data, timer payloads, findings, QA reasons and exemplars of these tickets
    (findings and exemplars by their session: `sessions`)."""
    for event in (
        await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids)))
    ).all():
        if actor_map is not None and event.actor == actor_map[0]:
            event.actor = actor_map[1]
        if event.data:
            event.data = mask_json(event.data, names)
    for timer in (
        await session.scalars(select(Timer).where(Timer.ticket_id.in_(ticket_ids)))
    ).all():
        if timer.payload:
            timer.payload = mask_json(timer.payload, names)
    session_ids = list(sessions)
    findings = (
        await session.scalars(select(Finding).where(Finding.session.in_(session_ids)))
    ).all()
    for finding in findings:
        if actor_map is not None and finding.session == actor_map[0]:
            finding.session = actor_map[1]
        finding.message = erase_pii(finding.message, names)
        finding.evidence = _scrub(finding.evidence, names)
        finding.suggestion = _scrub(finding.suggestion, names)
    finding_ids = [f.id for f in findings]
    for review in (
        await session.scalars(select(QaReview).where(QaReview.finding_id.in_(finding_ids)))
    ).all():
        review.reason = erase_pii(review.reason, names)
    for exemplar in (
        await session.scalars(
            select(Exemplar).where(
                or_(Exemplar.finding_id.in_(finding_ids), Exemplar.session.in_(session_ids))
            )
        )
    ).all():
        if actor_map is not None and exemplar.session == actor_map[0]:
            exemplar.session = actor_map[1]
        exemplar.text = erase_pii(exemplar.text, names)
        exemplar.reason = erase_pii(exemplar.reason, names)


async def mask_expired_in(
    session: AsyncSession, now: datetime, retention_days: int, *, skip_locked: bool
) -> list[str]:
    """Mask the customer texts of closed tickets past retention (one batch); their numbers."""
    cutoff = now - timedelta(days=retention_days)
    done = exists().where(
        TicketEvent.ticket_id == Ticket.id, TicketEvent.event == EventKind.RETENTION_MASKED
    )
    query = (
        select(Ticket)
        .where(Ticket.status == CLOSED, Ticket.closed_at < cutoff, ~done)
        .order_by(Ticket.closed_at, Ticket.id)
        .limit(RETENTION_BATCH)
    )
    if skip_locked:
        # Several processes run the chore: each takes tickets the others do not hold.
        query = query.with_for_update(skip_locked=True, of=Ticket)
    tickets = list((await session.scalars(query)).all())
    for ticket in tickets:
        customer = await session.get(Customer, ticket.customer_id)
        names = _names(customer) if customer is not None else ()
        for line in (
            await session.scalars(
                select(Message).where(
                    Message.ticket_id == ticket.id, Message.role == MessageRole.CUSTOMER
                )
            )
        ).all():
            line.text = erase_pii(line.text, names)
        ticket.summary = _scrub(ticket.summary, names)
        ticket.warranty_reason = _scrub(ticket.warranty_reason, names)
        # A photo cannot be masked: past retention the customer's files go.
        await erase_customer_media(session, [ticket.id], names)
        await _scrub_ticket_records(session, [ticket.id], [ticket.number], names)
        await seed_stamp(session, ticket.id)
        record(
            session,
            ticket,
            EventKind.RETENTION_MASKED,
            now,
            actor=SYSTEM_ACTOR,
            data={"retention_days": retention_days},
        )
    return [ticket.number for ticket in tickets]
