"""A complaint the engineer registers (one that came by phone) or marks resolved.

The customer's own complaint in the chat is opened by intake
(`bot.lifecycle.complaints.track_customer_complaint`); either way the clocks of
seed 002 1.1.2 run from ``complaint_opened`` until ``complaint_resolved``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.complaints import open_complaint, resolve_complaint
from bot.lifecycle.vocabulary import ACTIVE, CLOSED, WORKERS, EventKind


@dataclass(frozen=True, slots=True)
class ComplaintBody:
    action: str = given(
        "投诉", max_len=16, choices=(("open", "登记投诉"), ("resolve", "投诉已处理，客户满意"))
    )
    note: str | None = given("说明（投诉内容或处理结果）", default=None, max_len=1000)


async def complaint(ctx: ActionContext, body: ComplaintBody) -> Outcome:
    """Open a complaint (``open``) or record it resolved to the customer's satisfaction."""
    state = await ctx.state()
    if body.action == "open":
        if state.complaint_open:
            raise TicketError("conflict", "complaint_open", "该工单已有处理中的投诉")
        await open_complaint(
            ctx.desk,
            ctx.session,
            ctx.ticket,
            ctx.now,
            actor=ctx.actor.staff_no,
            source="engineer",
            note=body.note,
        )
        return Outcome((EventKind.COMPLAINT_OPENED,))
    if not state.complaint_open:
        raise TicketError("conflict", "no_complaint", "该工单没有处理中的投诉")
    await resolve_complaint(
        ctx.session, ctx.ticket, ctx.now, actor=ctx.actor.staff_no, note=body.note
    )
    return Outcome((EventKind.COMPLAINT_RESOLVED,))


COMPLAINT = Action(
    name="complaint",
    title="投诉跟踪",
    verb="跟踪投诉",
    statuses=(*ACTIVE, CLOSED),
    roles=WORKERS,
    body=ComplaintBody,
    records=(EventKind.COMPLAINT_OPENED, EventKind.COMPLAINT_RESOLVED, EventKind.REMINDER_SENT),
    run=complaint,
)
