"""Repair paths with their clocks (seed 004 1.3.3): in-house with parts, or factory repair.

正常情况下，需要配件更换的仪器维修周期最长为7个工作日 … 返厂维修仪器正常情况下，
维修周期为10～15个工作日.  Working days come from the project's calendar,
counted from the day repair starts (that day not counted).  Repair starts
only once the warranty is decided and, for paid work, the customer confirmed
the quote.  A reminder fires the morning the limit ends (in-house: tell the
service department and the customer before it is missed; factory: ask the
factory and tell the customer), and for factory repair again on day 15 with
the managers.  Finishing records what became of the replaced parts (1.3.5:
换下的配件，需交客户，如客户不需要，可以另行处理).  The vendor RMA path is
`bot.lifecycle.actions.rma`.

Unlike the vendor RMA, factory repair does not pause the day-4 / day-7 updates:
seed 000 2.1.c leaves out only the 原厂保修 cycle, and seed 004 1.3.3.2 asks to
keep the customer told while the unit is at the factory (定期询问厂家维修情况，
同时告之客户) — the update says where it is and until when.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.aftercare import PATH_LABELS, repair_timer_due, require_repair_allowed
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import WORKERS, WORKING, EventKind, TimerKind
from storage.repair_models import RepairJob

SHOP_PATHS = ("in_house", "factory")
OLD_PARTS = (("returned", "换下的配件已交客户"), ("declined", "客户不需要，另行处理"))


@dataclass(frozen=True, slots=True)
class RepairBody:
    action: str = given("进展", max_len=16, choices=(("start", "开始维修"), ("finish", "维修完成")))
    path: str | None = given(
        "维修方式",
        default=None,
        max_len=16,
        choices=(
            ("in_house", "在司维修（配件更换，≤7个工作日）"),
            ("factory", "返厂维修（10–15个工作日）"),
        ),
    )
    old_parts: str | None = given(
        "换下的配件（维修完成时）", default=None, max_len=16, choices=OLD_PARTS
    )


async def _open_shop_job(ctx: ActionContext) -> RepairJob | None:
    return await ctx.session.scalar(
        select(RepairJob).where(
            RepairJob.ticket_id == ctx.ticket.id,
            RepairJob.path.in_(SHOP_PATHS),
            RepairJob.finished_at.is_(None),
        )
    )


async def start_repair(ctx: ActionContext, path: str) -> Outcome:
    if await _open_shop_job(ctx) is not None:
        raise TicketError("conflict", "repair_open", "维修已在进行中")
    await require_repair_allowed(ctx)
    desk, rules = ctx.desk, ctx.desk.policy.warranty
    today = desk.calendar.local_date(ctx.now)
    if path == "in_house":
        due = desk.calendar.add_working_days(today, rules.in_house_repair_working_days)
        latest = None
    else:
        due = desk.calendar.add_working_days(today, rules.factory_repair_working_days)
        latest = desk.calendar.add_working_days(today, rules.factory_repair_latest_working_days)
    job = RepairJob(
        ticket_id=ctx.ticket.id,
        path=path,
        started_by=ctx.actor.staff_no,
        started_at=ctx.now,
        due_on=due,
        latest_on=latest,
    )
    ctx.session.add(job)
    await ctx.session.flush()
    opens = desk.clock.hours(ctx.ticket.channel).opens
    stages = [("due", due)] + ([("latest", latest)] if latest is not None else [])
    for stage, day in stages:
        timers.schedule(
            ctx.session,
            TimerKind.REPAIR_DUE,
            repair_timer_due(desk.calendar, day, opens),
            ticket_id=ctx.ticket.id,
            payload={"job": job.id, "stage": stage, "path": path, "day": day.isoformat()},
        )
    info = {
        "path": path,
        "label": PATH_LABELS[path],
        "due_on": due.isoformat(),
        "latest_on": latest.isoformat() if latest else None,
    }
    ctx.record(EventKind.REPAIR_STARTED, data=info)
    ctx.start_working()
    return Outcome((EventKind.REPAIR_STARTED,), {"repair": info})


async def finish_repair(ctx: ActionContext, old_parts: str | None) -> Outcome:
    job = await _open_shop_job(ctx)
    if job is None:
        raise TicketError("conflict", "repair_not_open", "没有进行中的维修")
    job.finished_at = ctx.now
    job.old_parts = old_parts
    await timers.cancel(ctx.session, ctx.ticket.id, (TimerKind.REPAIR_DUE,))
    info = {
        "path": job.path,
        "label": PATH_LABELS[job.path],
        "due_on": job.due_on.isoformat() if job.due_on else None,
        "on_time": job.due_on is None or ctx.desk.calendar.local_date(ctx.now) <= job.due_on,
        "old_parts": old_parts,
    }
    ctx.record(EventKind.REPAIR_FINISHED, data=info)
    return Outcome((EventKind.REPAIR_FINISHED,), {"repair": info})


async def repair(ctx: ActionContext, body: RepairBody) -> Outcome:
    """Start an in-house or factory repair with its clock, or finish it."""
    if body.action == "start":
        return await start_repair(ctx, body.path or "in_house")
    return await finish_repair(ctx, body.old_parts)


REPAIR = Action(
    name="repair",
    title="维修",
    verb="维修",
    statuses=WORKING,
    roles=WORKERS,
    body=RepairBody,
    records=(EventKind.REPAIR_STARTED, EventKind.REPAIR_FINISHED),
    run=repair,
)
