"""Handing a ticket to another engineer (a manager's call): they greet the customer."""

from __future__ import annotations

from dataclasses import dataclass

from bot.lifecycle.access import ActionContext, TicketError, has_role, staff_member
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import ACTIVE, MANAGERS, EngineerRole, EventKind


@dataclass(frozen=True, slots=True)
class ReassignBody:
    to: str = given("改派给（工号）", max_len=32)


async def reassign(ctx: ActionContext, body: ReassignBody) -> Outcome:
    """Assign the ticket to engineer `to`, who greets the customer with name and 工号."""
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
    greeting = ctx.desk.prompter.greeting(target.name, target.staff_no, ctx.ticket.channel)
    await ctx.say(greeting, speaker=target)
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
