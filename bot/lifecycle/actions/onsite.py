"""The on-site visit (seed 000 1.5): its deadline by distance, and the appointment line.

Under 100 km within 2 working days of the plan, 100–300 km within 3, over 300 km
negotiated with the customer.  With a deadline the appointment line is drafted
for the engineer and a reminder is set for that morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.journal import record
from bot.lifecycle.vocabulary import WORKERS, WORKING, EventKind, TimerKind
from bot.warranty import WarrantyError, onsite_deadline


def schedule_onsite(ctx: ActionContext, km: float) -> dict[str, Any]:
    """Record the visit's deadline `km` away; what the engineer is told about it."""
    desk, ticket = ctx.desk, ctx.ticket
    try:
        deadline = onsite_deadline(desk.policy, desk.calendar, ctx.now, km)
    except WarrantyError as exc:
        raise TicketError("invalid", "bad_field", str(exc), field="distance_km") from None
    ticket.distance_km = km
    info = deadline.to_dict()
    if deadline.due_on is not None:
        line = desk.prompter.onsite_appointment(
            deadline.due_on, km, deadline.working_days, ticket.channel, ctx.address
        )
        info["draft"] = line.to_dict()
        ctx.suggest_draft(line, reason="onsite")
        opens = desk.clock.hours(ticket.channel).opens or time(9, 0)
        timers.schedule(
            ctx.session,
            TimerKind.ONSITE,
            datetime.combine(deadline.due_on, opens, desk.calendar.tz),
            ticket_id=ticket.id,
            payload={"due_on": deadline.due_on.isoformat()},
        )
    # Computed from the plan, not an engineer's say: no actor.
    record(ctx.session, ticket, EventKind.ONSITE_SCHEDULED, ctx.now, data=info)
    return info


@dataclass(frozen=True, slots=True)
class OnsiteBody:
    distance_km: float = given("距离（公里）")


async def schedule(ctx: ActionContext, body: OnsiteBody) -> Outcome:
    """The on-site deadline by distance, and the appointment line drafted."""
    info = schedule_onsite(ctx, body.distance_km)
    return Outcome((EventKind.ONSITE_SCHEDULED,), {"onsite": info})


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
