"""A part at the vendor (原厂保修): chased every 3 days, the product manager after 15."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import WORKERS, WORKING, EventKind, TimerKind


@dataclass(frozen=True, slots=True)
class RmaBody:
    action: str = given(
        "进展", max_len=16, choices=(("start", "配件送原厂"), ("returned", "配件已返回"))
    )
    vendor: str | None = given("厂商", default=None, max_len=200)


async def rma(ctx: ActionContext, body: RmaBody) -> Outcome:
    """The part went to the vendor (``start``) or came back (``returned``)."""
    state = await ctx.state()
    ticket, now, sla = ctx.ticket, ctx.now, ctx.desk.policy.sla
    if body.action == "start":
        if state.rma_open:
            raise TicketError("conflict", "rma_open", "原厂保修已在进行中")
        ctx.record(EventKind.RMA_STARTED, data={"vendor": body.vendor})
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
        return Outcome((EventKind.RMA_STARTED,))
    if not state.rma_open:
        raise TicketError("conflict", "rma_not_open", "没有进行中的原厂保修")
    ctx.record(EventKind.RMA_RETURNED)
    await timers.cancel(ctx.session, ticket.id, (TimerKind.RMA_CHASE, TimerKind.RMA_PM))
    return Outcome((EventKind.RMA_RETURNED,))


RMA = Action(
    name="rma",
    title="原厂保修跟进",
    verb="原厂保修跟进",
    statuses=WORKING,
    roles=WORKERS,
    body=RmaBody,
    records=(EventKind.RMA_STARTED, EventKind.RMA_RETURNED),
    run=rma,
)
