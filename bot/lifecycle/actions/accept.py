"""Accepting a ticket (`ticket_accepted`): the accept reminders stop, the plan's 4 h start;
the customer is told the ticket number (and greeted now when the centre answered out of
hours)."""

from __future__ import annotations

from bot import timers
from bot.lifecycle.access import ActionContext
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import NoBody
from bot.lifecycle.frontdesk import greeted, number_told
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
    if not await greeted(ctx.session, ticket.id):
        # Opened out of hours with the centre's notice: the engineer introduces
        # themselves now that a person is really there (SCR001).
        speaker = ctx.speaker
        greeting = ctx.desk.prompter.greeting(speaker.name, speaker.staff_no, ticket.channel)
        await ctx.say(greeting, speaker=speaker)
    if not await number_told(ctx.session, ticket.id):
        # 受理: the case is registered; the customer gets the number to quote.
        await ctx.say(ctx.desk.prompter.ticket_number(ticket.number, ticket.channel))
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
