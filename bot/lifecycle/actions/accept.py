"""Accepting a ticket (`ticket_accepted`): the accept reminders stop, the plan's 4 h start."""

from __future__ import annotations

from bot import timers
from bot.lifecycle.access import ActionContext
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import NoBody
from bot.lifecycle.vocabulary import ACCEPTED, OPENED, WORKERS, EventKind, TimerKind


async def accept(ctx: ActionContext, _body: NoBody) -> Outcome:
    """The engineer takes the ticket; the solution warning and deadline are set."""
    ticket, now, sla = ctx.ticket, ctx.now, ctx.desk.policy.sla
    clock = ctx.desk.clock
    ticket.status = ACCEPTED
    ctx.record(EventKind.TICKET_ACCEPTED)
    await timers.cancel(
        ctx.session, ticket.id, (TimerKind.ACCEPT_ENGINEER, TimerKind.ACCEPT_MANAGER)
    )
    due = clock.deadline_after(now, sla.solution_s, ticket.channel)
    lead = min(ctx.desk.settings.solution_warning_lead_s, sla.solution_s)
    warn = clock.deadline_after(now, sla.solution_s - lead, ticket.channel)
    timers.schedule(ctx.session, TimerKind.SOLUTION_WARNING, warn, ticket_id=ticket.id)
    timers.schedule(ctx.session, TimerKind.SOLUTION_DUE, due, ticket_id=ticket.id)
    return Outcome((EventKind.TICKET_ACCEPTED,), {"solution_due": due.isoformat()})


ACCEPT = Action(
    name="accept",
    title="受理",
    verb="受理",
    statuses=(OPENED,),
    roles=WORKERS,
    body=NoBody,
    records=(EventKind.TICKET_ACCEPTED,),
    run=accept,
)
