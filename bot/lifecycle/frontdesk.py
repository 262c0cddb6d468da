"""What the customer is told about their case, and who the customer is.

- The first turn (`first_lines`): inside attended hours, or on call with the engineer
  on duty in their window, the engineer's greeting (and the rest-day notice);
  outside them the centre's honest notice of when a person will answer (with the
  ticket number, and the emergency path on a rest day) — no engineer's name, nobody
  pretending to type.  Accepting the ticket (受理) tells the customer its number
  (`number_told`: once), and the engineer greets then if nobody has (`greeted`; also
  before their first line).  The number comes with the acceptance, not in the first
  turn: the first turn stays the one line (greeting) every channel answers with.
- ``查询工单 PS-…`` (`status_query`) is answered with that ticket's status, for the
  customer's own tickets only (any of their channels); on a closed ticket the
  question joins it and opens nothing.
- One person across channels (`person_ids`): ``customers.person_id`` points at the
  first row of the same person, set when a phone number the customer gives is
  already known (`capture_customer`) or by an engineer (the ``customer`` action).
  The surname and title the customer gives (我是张总, 我姓王，是老师) are kept, so the
  lines address them as 张总 / 王老师 (【售后沟通标准】2).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import record
from bot.lifecycle.outbox import store_centre_line, store_line
from bot.lifecycle.vocabulary import BOT_ACTOR, EventKind
from bot.messages import OutboundMessage
from bot.prompting import PromptedLine
from scripts_library import STATUS_LABELS, ScriptKey
from storage.models import Customer, Engineer, Message, MessageRole, Ticket

_STATUS_QUERY = re.compile(
    r"(?:查询|查一下|查)\s*工单(?:号)?\s*[:：]?\s*([A-Za-z]{1,8}-\d{8}-\d{3,6})"
)
# A mainland mobile number on its own (not inside a serial number such as SN13912345678).
_PHONE = re.compile(r"(?<![A-Za-z0-9])(1[3-9]\d{9})(?![A-Za-z0-9])")
# 我是张总 / 我姓王，是老师 / 本人李经理: a surname and the title the customer goes by.
_TITLES = "总|老师|经理|主任|工|博士|教授|主管|处长|科长|院长|校长|局长"
_NAMED = re.compile(
    rf"(?:我是|我姓|本人|免贵姓|叫我)([\u4e00-\u9fff])(?:[，,、\s]*(?:是)?)({_TITLES})"
)
_SURNAME_ONLY = re.compile(
    r"(?:我姓|免贵姓)([\u4e00-\u9fff])(?![\u4e00-\u9fff]*(?:" + _TITLES + "))"
)
GREETED_BY = (ScriptKey.GREETING.value, ScriptKey.HANDOVER.value)
TOLD_BY = (ScriptKey.TICKET_NUMBER.value, ScriptKey.AFTER_HOURS_NOTICE.value)


def status_query(text: str) -> str | None:
    """The ticket number a ``查询工单 PS-…`` line asks about, or None."""
    found = _STATUS_QUERY.search(text)
    return found.group(1).upper() if found else None


async def person_ids(session: AsyncSession, customer: Customer) -> list[int]:
    """Every customer row of the same person (all their channels), this one included."""
    root = customer.person_id or customer.id
    rows = await session.execute(
        select(Customer.id).where(or_(Customer.id == root, Customer.person_id == root))
    )
    return sorted({int(r) for r in rows.scalars()} | {customer.id})


async def queried_ticket(session: AsyncSession, customer: Customer, number: str) -> Ticket | None:
    """Ticket `number` when it is this person's (on any of their channels), else None."""
    ids = await person_ids(session, customer)
    return await session.scalar(
        select(Ticket).where(Ticket.number == number, Ticket.customer_id.in_(ids))
    )


async def status_answer(
    desk: Desk, session: AsyncSession, ticket: Ticket, asked: Ticket, at: datetime, reply_to: int
) -> OutboundMessage:
    """The centre's answer on `ticket` with the status of ticket `asked`."""
    engineer = (
        await session.get(Engineer, asked.assigned_engineer_id)
        if asked.assigned_engineer_id is not None
        else None
    )
    status = STATUS_LABELS.get(asked.status.value, asked.status.value)
    updated = asked.closed_at or asked.resolved_at or asked.accepted_at or asked.opened_at
    line = desk.prompter.ticket_status(
        asked.number,
        status,
        updated,
        ticket.channel,
        (engineer.name, engineer.staff_no) if engineer is not None else None,
    )
    return await store_centre_line(
        session, ticket, line, at, desk.policy.company.centre, in_reply_to=reply_to
    )


def answered_out_of_hours(desk: Desk, ticket: Ticket, at: datetime, on_call: bool) -> bool:
    """Whether a person answers now: inside the channel's hours, or on call in the window."""
    return on_call or desk.clock.is_attended(at, ticket.channel)


async def first_lines(
    desk: Desk,
    session: AsyncSession,
    ticket: Ticket,
    engineer: Engineer | None,
    at: datetime,
    address: str,
    reply_to: int,
    *,
    on_call: bool,
) -> list[OutboundMessage]:
    """The answer to a new ticket's first message (see the module docstring)."""
    prompter = desk.prompter
    if not answered_out_of_hours(desk, ticket, at, on_call):
        opens = desk.clock.clock_start(at, ticket.channel)
        notice = prompter.after_hours_notice(ticket.number, opens, ticket.channel, address, at)
        centre = desk.policy.company.centre
        return [await store_centre_line(session, ticket, notice, at, centre, in_reply_to=reply_to)]
    if engineer is None:
        return []
    lines: list[PromptedLine] = prompter.first_turn(
        engineer.name, engineer.staff_no, ticket.channel, at, address
    )
    return [
        await store_line(session, ticket, engineer, line, at, in_reply_to=reply_to)
        for line in lines
    ]


async def greeted(session: AsyncSession, ticket_id: int) -> bool:
    """Whether an engineer has introduced themselves on the ticket (greeting or handover)."""
    found = await session.scalar(
        select(Message.id)
        .where(
            Message.ticket_id == ticket_id,
            Message.role == MessageRole.AGENT,
            Message.prompted_by.in_(GREETED_BY),
        )
        .limit(1)
    )
    return found is not None


async def number_told(session: AsyncSession, ticket_id: int) -> bool:
    """Whether the customer has been told the ticket number (its line, or the notice)."""
    found = await session.scalar(
        select(Message.id)
        .where(Message.ticket_id == ticket_id, Message.prompted_by.in_(TOLD_BY))
        .limit(1)
    )
    return found is not None


def customer_facts(text: str) -> dict[str, str]:
    """The surname, title and mobile number a customer line gives (only those found)."""
    found: dict[str, str] = {}
    named = _NAMED.search(text)
    if named:
        found["surname"], found["title"] = named.group(1), named.group(2)
    else:
        surname = _SURNAME_ONLY.search(text)
        if surname:
            found["surname"] = surname.group(1)
    phone = _PHONE.search(text)
    if phone:
        found["phone"] = phone.group(1)
    return found


async def capture_customer(
    session: AsyncSession, ticket: Ticket, customer: Customer, message: Message, at: datetime
) -> None:
    """Keep the surname, title and phone number a customer line gives, and link the
    customer to the same person known by that phone number on another channel."""
    found = customer_facts(message.text)
    if not found:
        return
    changed: dict[str, Any] = {}
    for name, value in found.items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed[name] = value
    if not changed:
        return
    record(
        session,
        ticket,
        EventKind.CUSTOMER_RECORDED,
        at,
        actor=BOT_ACTOR,
        data={"fields": sorted(changed), "message_id": message.id, "source": "customer"},
    )
    if "phone" in changed:
        await link_by_phone(session, ticket, customer, changed["phone"], at, actor=BOT_ACTOR)


async def link_by_phone(
    session: AsyncSession,
    ticket: Ticket,
    customer: Customer,
    phone: str,
    at: datetime,
    *,
    actor: str,
) -> Customer | None:
    """Join `customer` to the person another customer row with this phone number is."""
    other = await session.scalar(
        select(Customer)
        .where(
            Customer.phone == phone, Customer.id != customer.id, Customer.anonymised_at.is_(None)
        )
        .order_by(Customer.id)
        .limit(1)
    )
    if other is None:
        return None
    await link(session, ticket, customer, other, at, actor=actor, by="phone")
    return other


async def link(
    session: AsyncSession,
    ticket: Ticket,
    customer: Customer,
    other: Customer,
    at: datetime,
    *,
    actor: str,
    by: str,
) -> None:
    """Make `customer` and `other` one person (the older root wins); recorded on `ticket`."""
    roots = {other.person_id or other.id, customer.person_id or customer.id}
    root = min(roots)
    for row in (customer, other):
        if row.id != root:
            row.person_id = root
    # Rows already joined to the root that loses follow: the link stays one level deep.
    for old in roots - {root}:
        await session.execute(
            update(Customer)
            .where(Customer.person_id == old)
            .values(person_id=root)
            .execution_options(synchronize_session="fetch")
        )
    record(
        session,
        ticket,
        EventKind.CUSTOMER_LINKED,
        at,
        actor=actor,
        data={"customer": customer.id, "with": other.id, "channel": other.channel, "by": by},
    )
