"""The on-site visit (seed 000 1.5): its deadline by distance, arrival, and the reschedule.

Under 100 km within 2 working days of the plan, 100–300 km within 3, over 300 km
on the date agreed with the customer (stored; until it is, the ticket page asks
for it).  With a date the appointment line is drafted for the engineer, a
reminder is set for that morning and a second one for the end of that day: not
there yet, the reschedule line is drafted (1.5 ※: 因交通、天气等不可控因素导致工程师
无法按时到达的及时与客户重新约定上门服务时间).  ``onsite-reschedule`` sends that
line with the new date; ``onsite-arrival`` records the engineer on site, late
or not, and stops the reminders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.delivery import visit_of
from bot.lifecycle.journal import record
from bot.lifecycle.vocabulary import WORKERS, WORKING, EventKind, TimerKind
from bot.warranty import WarrantyError, onsite_deadline
from scripts_library import ScriptInputError
from storage.delivery_models import OnsiteVisit


async def schedule_visit_timers(ctx: ActionContext, due_on: date) -> None:
    """The visit's reminders: that morning, and the end of that day if nobody arrived."""
    desk = ctx.desk
    hours = desk.clock.hours(ctx.ticket.channel)
    await timers.cancel(ctx.session, ctx.ticket.id, (TimerKind.ONSITE,))
    payload = {"due_on": due_on.isoformat()}
    morning = datetime.combine(due_on, hours.opens or time(9, 0), desk.calendar.tz)
    evening = datetime.combine(due_on, hours.closes or time(18, 0), desk.calendar.tz)
    timers.schedule(
        ctx.session, TimerKind.ONSITE, morning, ticket_id=ctx.ticket.id, payload=payload
    )
    timers.schedule(
        ctx.session,
        TimerKind.ONSITE,
        evening,
        ticket_id=ctx.ticket.id,
        payload={**payload, "stage": "late"},
    )


async def schedule_onsite(
    ctx: ActionContext, km: float, agreed_on: date | None = None
) -> dict[str, Any]:
    """Record the visit `km` away (over 300 km on `agreed_on`); what the engineer is told."""
    desk, ticket = ctx.desk, ctx.ticket
    try:
        deadline = onsite_deadline(desk.policy, desk.calendar, ctx.now, km)
    except WarrantyError as exc:
        raise TicketError("invalid", "bad_field", str(exc), field="distance_km") from None
    today = desk.calendar.local_date(ctx.now)
    if agreed_on is not None and agreed_on < today:
        raise TicketError("invalid", "bad_field", "商定的上门日期不能早于今天", field="agreed_on")
    if agreed_on is not None and deadline.due_on is not None and agreed_on > deadline.due_on:
        raise TicketError(
            "invalid",
            "bad_field",
            f"距离{km:g}公里须在{deadline.due_on.isoformat()}前到达现场，商定日期不能晚于此",
            field="agreed_on",
        )
    due_on = agreed_on or deadline.due_on
    ticket.distance_km = km
    visit = await visit_of(ctx.session, ticket.id)
    if visit is None:
        visit = OnsiteVisit(ticket_id=ticket.id, planned_at=ctx.now, reschedules=0)
        ctx.session.add(visit)
    visit.distance_km = km
    visit.working_days = deadline.working_days
    visit.due_on = due_on
    visit.agreed = agreed_on is not None
    visit.planned_by = ctx.actor.staff_no
    visit.planned_at = ctx.now
    visit.arrived_at = visit.arrived_by = visit.late = None
    info = {**deadline.to_dict(), "due_on": due_on.isoformat() if due_on else None}
    info["agreed_on"] = agreed_on.isoformat() if agreed_on else None
    if due_on is not None:
        working_days = None if agreed_on is not None else deadline.working_days
        line = desk.prompter.onsite_appointment(
            due_on, km, working_days, ticket.channel, ctx.address
        )
        info["draft"] = line.to_dict()
        ctx.suggest_draft(line, reason="onsite")
        await schedule_visit_timers(ctx, due_on)
    else:
        info["needs_agreed_date"] = True
    # Computed from the plan, not an engineer's say: no actor.
    record(ctx.session, ticket, EventKind.ONSITE_SCHEDULED, ctx.now, data=info)
    return info


@dataclass(frozen=True, slots=True)
class OnsiteBody:
    distance_km: float = given("距离（公里）")
    # Over 300 km the visit's date is the one agreed with the customer.
    agreed_on: date | None = given("与客户商定的上门日期（超过300公里必填）", default=None)


async def schedule(ctx: ActionContext, body: OnsiteBody) -> Outcome:
    """The on-site deadline by distance (or the agreed date), and the appointment line drafted."""
    if body.agreed_on is None and ctx.desk.policy.onsite_working_days(body.distance_km) is None:
        raise TicketError(
            "invalid",
            "missing_field",
            "超过300公里须与客户商定上门日期，请填写商定的日期",
            field="agreed_on",
        )
    info = await schedule_onsite(ctx, body.distance_km, body.agreed_on)
    return Outcome((EventKind.ONSITE_SCHEDULED,), {"onsite": info})


async def _planned_visit(ctx: ActionContext) -> OnsiteVisit:
    visit = await visit_of(ctx.session, ctx.ticket.id)
    if visit is None:
        raise TicketError("conflict", "no_onsite_visit", "尚未安排上门")
    if visit.arrived_at is not None:
        raise TicketError("conflict", "already_arrived", "工程师已到达现场")
    return visit


@dataclass(frozen=True, slots=True)
class RescheduleBody:
    new_date: date = given("新的上门日期")
    reason: str | None = given("原因（默认：交通、天气等不可控因素）", default=None, max_len=100)


async def reschedule(ctx: ActionContext, body: RescheduleBody) -> Outcome:
    """The visit cannot be kept: the reschedule line with the new date goes to the customer."""
    visit = await _planned_visit(ctx)
    if body.new_date < ctx.desk.calendar.local_date(ctx.now):
        raise TicketError("invalid", "bad_field", "新的上门日期不能早于今天", field="new_date")
    reason = (body.reason or "").strip() or None
    try:
        line = ctx.desk.prompter.onsite_reschedule(
            body.new_date, ctx.ticket.channel, reason, ctx.address
        )
    except ScriptInputError as exc:
        raise TicketError("invalid", "bad_field", str(exc), field="reason") from None
    previous = visit.due_on
    visit.due_on = body.new_date
    visit.agreed = True
    visit.reschedules += 1
    sent = await ctx.say(line)
    await schedule_visit_timers(ctx, body.new_date)
    info = {
        "from": previous.isoformat() if previous else None,
        "to": body.new_date.isoformat(),
        "reason": reason,
        "message_id": sent.message_id,
    }
    ctx.record(EventKind.ONSITE_RESCHEDULED, data=info)
    return Outcome((EventKind.ONSITE_RESCHEDULED,), {"onsite": info})


@dataclass(frozen=True, slots=True)
class ArrivalBody:
    note: str | None = given("备注", default=None, max_len=200)


async def arrive(ctx: ActionContext, body: ArrivalBody) -> Outcome:
    """The engineer is on site: recorded with whether it was later than the date."""
    visit = await _planned_visit(ctx)
    if visit.due_on is None:
        raise TicketError("conflict", "no_onsite_date", "尚未与客户商定上门日期")
    today = ctx.desk.calendar.local_date(ctx.now)
    visit.arrived_at = ctx.now
    visit.arrived_by = ctx.actor.staff_no
    visit.late = today > visit.due_on
    ctx.start_working()
    await timers.cancel(ctx.session, ctx.ticket.id, (TimerKind.ONSITE,))
    info = {"due_on": visit.due_on.isoformat(), "late": visit.late, "note": body.note}
    ctx.record(EventKind.ONSITE_ARRIVED, data=info)
    return Outcome((EventKind.ONSITE_ARRIVED,), {"onsite": info})


ONSITE = Action(
    name="onsite",
    title="安排上门",
    verb="安排上门",
    statuses=WORKING,
    roles=WORKERS,
    body=OnsiteBody,
    records=(EventKind.ONSITE_SCHEDULED, EventKind.DRAFT_SUGGESTED),
    run=schedule,
)
ONSITE_RESCHEDULE = Action(
    name="onsite-reschedule",
    title="上门改期",
    verb="上门改期",
    statuses=WORKING,
    roles=WORKERS,
    body=RescheduleBody,
    records=(EventKind.ONSITE_RESCHEDULED,),
    run=reschedule,
)
ONSITE_ARRIVAL = Action(
    name="onsite-arrival",
    title="到达现场",
    verb="记录到达现场",
    statuses=WORKING,
    roles=WORKERS,
    body=ArrivalBody,
    records=(EventKind.ONSITE_ARRIVED,),
    run=arrive,
)
