"""The warranty decision (seed 000 1.2): which tier the ticket's unit is in, and why.

Counted from the day after sign-for: within 3 months a new unit, within 6 a
refurbished one, within 3 years free repair, later paid; any of the paid-repair
exclusions (2.e 1–10) makes it paid whatever the dates say.  The decision is
stored on the ticket (tier, reason, sign-for date) and as `warranty_assessed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import ACTIVE, WORKERS, EventKind
from bot.warranty import WarrantyError, assess_warranty
from compliance.policy import Policy


def exclusion_options(policy: Policy) -> Sequence[tuple[str, str]]:
    """The policy's paid-repair exclusions, as a form offers them."""
    return [(exclusion.code, exclusion.text) for exclusion in policy.warranty.exclusions]


@dataclass(frozen=True, slots=True)
class WarrantyBody:
    signed_for: date = given("签收日期")
    exclusions: tuple[str, ...] = given("有偿保修情形", default=(), options=exclusion_options)


async def assess(ctx: ActionContext, body: WarrantyBody) -> Outcome:
    """Work out and record the warranty tier of the ticket's unit."""
    ticket = ctx.ticket
    reported = ctx.desk.prompter.local_date(ticket.opened_at)
    try:
        result = assess_warranty(
            ctx.desk.policy.warranty, body.signed_for, reported, body.exclusions
        )
    except WarrantyError as exc:
        raise TicketError("invalid", "bad_field", str(exc)) from None
    ticket.sign_for_date = body.signed_for
    ticket.warranty_status = result.tier
    ticket.warranty_reason = result.reason
    ctx.record(EventKind.WARRANTY_ASSESSED, data=result.to_dict())
    return Outcome((EventKind.WARRANTY_ASSESSED,), {"warranty": result.to_dict()})


WARRANTY = Action(
    name="warranty",
    title="判定保修",
    verb="判定保修",
    statuses=ACTIVE,
    roles=WORKERS,
    body=WarrantyBody,
    records=(EventKind.WARRANTY_ASSESSED,),
    run=assess,
)
