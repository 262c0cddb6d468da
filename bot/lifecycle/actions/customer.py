"""Who the customer is: their surname and title (张总, 王老师: 【售后沟通标准】2), their
phone number, and the same person on another channel.

The engineer records what the customer said on the phone or what the bot could not
read; a phone number another customer row already has, or the number of a ticket of
the same person on another channel (`link_ticket`), makes the two rows one person
(`bot.lifecycle.frontdesk.link`): the ticket page then lists all their tickets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.frontdesk import link, link_by_phone
from bot.lifecycle.vocabulary import ACTIVE, CLOSED, WORKERS, EventKind
from storage.models import Customer, Ticket

_PHONE = re.compile(r"\+?[0-9][0-9 -]{5,30}")
_NAME_PART = re.compile(r"[\u4e00-\u9fffA-Za-z·]{1,8}")


@dataclass(frozen=True, slots=True)
class CustomerBody:
    surname: str | None = given("客户姓氏（如 张）", default=None, max_len=8)
    title: str | None = given("称谓（如 总、老师）", default=None, max_len=8)
    phone: str | None = given("联系电话", default=None, max_len=32)
    link_ticket: str | None = given("同一客户在其他渠道的工单号", default=None, max_len=32)


def _part(value: str | None, field: str, label: str) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if not _NAME_PART.fullmatch(text) or "你" in text:
        raise TicketError("invalid", "bad_field", f"{label}只能是 1–8 个汉字或字母", field=field)
    return text


async def record_customer(ctx: ActionContext, body: CustomerBody) -> Outcome:
    """Record the customer's surname, title and phone, and link them to the same person."""
    customer = ctx.customer
    if customer.anonymised_at is not None:
        raise TicketError("conflict", "customer_forgotten", "该客户的个人信息已删除")
    values = {
        "surname": _part(body.surname, "surname", "姓氏"),
        "title": _part(body.title, "title", "称谓"),
    }
    phone = (body.phone or "").strip()
    if phone:
        if not _PHONE.fullmatch(phone):
            raise TicketError("invalid", "bad_field", "联系电话格式不对", field="phone")
        values["phone"] = phone.replace(" ", "").replace("-", "")
    other: Customer | None = None
    if body.link_ticket:
        number = body.link_ticket.strip().upper()
        other = await ctx.session.scalar(
            select(Customer)
            .join(Ticket, Ticket.customer_id == Customer.id)
            .where(Ticket.number == number)
        )
        if other is None:
            raise TicketError(
                "invalid", "no_such_ticket", f"工单 {number} 不存在", field="link_ticket"
            )
        if other.anonymised_at is not None:
            raise TicketError(
                "conflict", "customer_forgotten", "该工单客户的个人信息已删除", field="link_ticket"
            )
    changed = sorted(k for k, v in values.items() if v is not None and getattr(customer, k) != v)
    if not changed and other is None:
        raise TicketError("invalid", "nothing_to_record", "请填写姓氏、称谓、电话或要合并的工单号")
    for name in changed:
        setattr(customer, name, values[name])
    events: list[EventKind] = []
    if changed:
        ctx.record(EventKind.CUSTOMER_RECORDED, data={"fields": changed, "source": "engineer"})
        events.append(EventKind.CUSTOMER_RECORDED)
    if other is not None and other.id != customer.id:
        await link(
            ctx.session,
            ctx.ticket,
            customer,
            other,
            ctx.now,
            actor=ctx.actor.staff_no,
            by="engineer",
        )
        events.append(EventKind.CUSTOMER_LINKED)
    elif "phone" in changed and await link_by_phone(
        ctx.session, ctx.ticket, customer, values["phone"] or "", ctx.now, actor=ctx.actor.staff_no
    ):
        events.append(EventKind.CUSTOMER_LINKED)
    return Outcome(tuple(events), {"address": ctx.address})


CUSTOMER = Action(
    name="customer",
    title="登记客户信息",
    verb="登记客户信息",
    statuses=(*ACTIVE, CLOSED),
    roles=WORKERS,
    body=CustomerBody,
    records=(EventKind.CUSTOMER_RECORDED, EventKind.CUSTOMER_LINKED),
    run=record_customer,
)
