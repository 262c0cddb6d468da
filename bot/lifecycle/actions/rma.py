"""A part at the vendor (原厂保修, seed 000 2.2): chased every 3 days, the product manager after 15.

2.2.a: 期间按3天一次的标准跟进和催促原厂保修进度; 2.2.b: 超过15天未能返回 … 要求产品
经理给出具体保修返回时间，按此时间继续跟催原厂.  ``start`` sends the part (only
once the warranty is decided and, when paid, the quote confirmed), ``promise``
records the return date the product manager obtained (a chase is set for that
morning), ``returned`` ends it.  While the part is away the day-4 / day-7
progress updates are paused (2.1.c: 以上交付周期不包含原厂保修周期) and come
back later by the working days it was away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.aftercare import (
    pause_progress,
    repair_timer_due,
    require_repair_allowed,
    resume_progress,
)
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import WORKERS, WORKING, EventKind, TimerKind
from storage.models import TicketEvent
from storage.repair_models import RepairJob


@dataclass(frozen=True, slots=True)
class RmaBody:
    action: str = given(
        "进展",
        max_len=16,
        choices=(
            ("start", "配件送原厂"),
            ("promise", "产品经理给出返回日期"),
            ("returned", "配件已返回"),
        ),
    )
    vendor: str | None = given("厂商", default=None, max_len=200)
    promised_on: date | None = given("原厂承诺返回日期", default=None)


async def _vendor_job(ctx: ActionContext) -> RepairJob | None:
    return await ctx.session.scalar(
        select(RepairJob)
        .where(
            RepairJob.ticket_id == ctx.ticket.id,
            RepairJob.path == "vendor",
            RepairJob.finished_at.is_(None),
        )
        .order_by(RepairJob.started_at.desc())
        .limit(1)
    )


async def _last_start(ctx: ActionContext) -> TicketEvent | None:
    return await ctx.session.scalar(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ctx.ticket.id, TicketEvent.event == EventKind.RMA_STARTED)
        .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
        .limit(1)
    )


async def _start(ctx: ActionContext, body: RmaBody) -> Outcome:
    await require_repair_allowed(ctx)
    ticket, now, sla = ctx.ticket, ctx.now, ctx.desk.policy.sla
    ctx.session.add(
        RepairJob(
            ticket_id=ticket.id,
            path="vendor",
            vendor=body.vendor,
            started_by=ctx.actor.staff_no,
            started_at=now,
        )
    )
    paused = await pause_progress(ctx)
    ctx.record(EventKind.RMA_STARTED, data={"vendor": body.vendor, "paused_progress": paused})
    ctx.start_working()
    timers.schedule(
        ctx.session,
        TimerKind.RMA_CHASE,
        now + timedelta(days=sla.rma_chase_every_days),
        ticket_id=ticket.id,
        payload={"chase": 1},
    )
    timers.schedule(
        ctx.session,
        TimerKind.RMA_PM,
        now + timedelta(days=sla.rma_product_manager_after_days),
        ticket_id=ticket.id,
    )
    return Outcome((EventKind.RMA_STARTED,), {"rma": {"paused_progress": len(paused)}})


async def _promise(ctx: ActionContext, body: RmaBody) -> Outcome:
    if body.promised_on is None:
        raise TicketError("invalid", "missing_field", "请填写原厂承诺返回日期", field="promised_on")
    if body.promised_on < ctx.desk.calendar.local_date(ctx.now):
        raise TicketError("invalid", "bad_field", "承诺返回日期不能早于今天", field="promised_on")
    job = await _vendor_job(ctx)
    if job is not None:
        job.promised_on = body.promised_on
    desk = ctx.desk
    timers.schedule(
        ctx.session,
        TimerKind.RMA_CHASE,
        repair_timer_due(
            desk.calendar, body.promised_on, desk.clock.hours(ctx.ticket.channel).opens
        ),
        ticket_id=ctx.ticket.id,
        payload={"chase": "promised", "promised_on": body.promised_on.isoformat()},
    )
    info = {"promised_on": body.promised_on.isoformat()}
    ctx.record(EventKind.RMA_RETURN_PROMISED, data=info)
    return Outcome((EventKind.RMA_RETURN_PROMISED,), {"rma": info})


async def _returned(ctx: ActionContext) -> Outcome:
    job = await _vendor_job(ctx)
    if job is not None:
        job.finished_at = ctx.now
    started = await _last_start(ctx)
    resumed: list[dict[str, Any]] = []
    # A ticket delivered meanwhile owes no update any more.
    if started is not None and ctx.ticket.status in WORKING:
        paused = list((started.data or {}).get("paused_progress") or [])
        resumed = resume_progress(ctx, paused, started.at)
    ctx.record(EventKind.RMA_RETURNED, data={"resumed_progress": resumed})
    await timers.cancel(ctx.session, ctx.ticket.id, (TimerKind.RMA_CHASE, TimerKind.RMA_PM))
    return Outcome((EventKind.RMA_RETURNED,), {"rma": {"resumed_progress": resumed}})


async def rma(ctx: ActionContext, body: RmaBody) -> Outcome:
    """The part went to the vendor, the vendor promised a date, or the part came back."""
    state = await ctx.state()
    if body.action == "start":
        if state.rma_open:
            raise TicketError("conflict", "rma_open", "原厂保修已在进行中")
        return await _start(ctx, body)
    if not state.rma_open:
        raise TicketError("conflict", "rma_not_open", "没有进行中的原厂保修")
    if body.action == "promise":
        return await _promise(ctx, body)
    return await _returned(ctx)


RMA = Action(
    name="rma",
    title="原厂保修跟进",
    verb="原厂保修跟进",
    statuses=WORKING,
    roles=WORKERS,
    body=RmaBody,
    records=(EventKind.RMA_STARTED, EventKind.RMA_RETURN_PROMISED, EventKind.RMA_RETURNED),
    run=rma,
)
