"""A call or visit on the ticket, with its duration and result (seed 003 值班管理制度 3.2).

“D、值班人员须记录每一通电话的处理结果，并记录通话时长，须上门服务时还须及时汇报情况给
相关领导，并确定解决方案，并作处理记录。”  The record (`storage.duty_models.ContactRecord`)
ended now and lasted `duration_min`; one that falls outside the working day or on a
rest day counts as on-call work (the month's hand-over sums it, and a visit's time is
overtime, 3.3.D).  An on-call visit is reported to the managers at once.  A call
or visit is also the engineer getting in touch (seed 002's per-level response).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.lifecycle.access import ActionContext, TicketError, roster_managers
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.notify import remind
from bot.lifecycle.oncall import off_hours
from bot.lifecycle.vocabulary import ACTIVE, CLOSED, WORKERS, EventKind
from storage.duty_models import ContactRecord

KIND_CHOICES = (("call", "电话"), ("visit", "上门"))
MAX_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class ContactBody:
    kind: str = given("类型", max_len=16, choices=KIND_CHOICES)
    duration_min: float = given("时长（分钟）")
    result: str = given("处理结果", max_len=1000)


async def record_contact(ctx: ActionContext, body: ContactBody) -> Outcome:
    """Store the call or visit and record it on the ticket."""
    if not 0 < body.duration_min <= MAX_MINUTES:
        raise TicketError(
            "invalid",
            "bad_field",
            f"field 'duration_min' must be more than 0 and at most {MAX_MINUTES} minutes",
            field="duration_min",
        )
    result = body.result.strip()
    if not result:
        raise TicketError("invalid", "bad_field", "请填写处理结果", field="result")
    duration_s = round(body.duration_min * 60)
    started = ctx.now - timedelta(seconds=duration_s)
    why = off_hours(ctx.desk.policy, ctx.desk.calendar, started)
    contact = ContactRecord(
        ticket_id=ctx.ticket.id,
        engineer_id=ctx.actor.id,
        kind=body.kind,
        at=started,
        duration_s=duration_s,
        result=result,
        on_duty=why is not None,
    )
    ctx.session.add(contact)
    await ctx.session.flush()
    data = {
        "contact_id": contact.id,
        "kind": body.kind,
        "duration_s": duration_s,
        "result": result,
        "on_duty": why is not None,
        "off_hours": why,
    }
    ctx.record(EventKind.CONTACT_RECORDED, data=data)
    events = [EventKind.CONTACT_RECORDED]
    if body.kind == "visit" and why is not None:
        managers = await roster_managers(ctx.session)
        if remind(ctx.session, ctx.ticket, ctx.now, managers, "duty_visit", **data):
            events.append(EventKind.REMINDER_SENT)
    return Outcome(tuple(events), {"contact": data})


CONTACT = Action(
    name="contact",
    title="记录通话/上门",
    verb="记录通话或上门",
    statuses=(*ACTIVE, CLOSED),
    roles=WORKERS,
    body=ContactBody,
    records=(EventKind.CONTACT_RECORDED, EventKind.REMINDER_SENT),
    run=record_contact,
)
