"""Handing a ticket to another engineer (a manager's call): 已为您转接 with who takes over
(their greeting instead, when nobody had greeted the customer yet)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.lifecycle.access import ActionContext, TicketError, has_role, staff_member
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.frontdesk import greeted
from bot.lifecycle.vocabulary import ACTIVE, MANAGERS, EngineerRole, EventKind


@dataclass(frozen=True, slots=True)
class ReassignBody:
    to: str = given("改派给（工号）", max_len=32)


async def reassign(ctx: ActionContext, body: ReassignBody) -> Outcome:
    """Assign the ticket to engineer `to`, who tells the customer they took over."""
    target = await staff_member(ctx.session, body.to)
    if not has_role(target, EngineerRole.ENGINEER):
        raise TicketError(
            "invalid", "not_an_engineer", f"工号 {body.to} 不是运维工程师", field="to"
        )
    previous = ctx.engineer
    if previous is not None and previous.id == target.id:
        raise TicketError("conflict", "same_engineer", f"工单已分配给工号 {body.to}")
    ctx.ticket.assigned_engineer_id = target.id
    ctx.record(
        EventKind.REASSIGNED,
        data={"from": previous.staff_no if previous else None, "to": target.staff_no},
    )
    prompter, channel = ctx.desk.prompter, ctx.ticket.channel
    if await greeted(ctx.session, ctx.ticket.id):
        # The customer was greeted already: who takes over, not a second greeting.
        line = prompter.handover(target.name, target.staff_no, channel, ctx.address)
    else:
        line = prompter.greeting(target.name, target.staff_no, channel)
    await ctx.say(line, speaker=target)
    return Outcome((EventKind.REASSIGNED,))


REASSIGN = Action(
    name="reassign",
    title="改派",
    verb="改派工单",
    statuses=ACTIVE,
    roles=MANAGERS,
    body=ReassignBody,
    records=(EventKind.REASSIGNED,),
    run=reassign,
)
