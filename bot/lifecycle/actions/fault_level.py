"""Changing a ticket's fault level (seed 002 1.1.7 根据故障现象划分故障的等级).

The bot classifies the first message; the engineer who knows better sets the level
with a reason.  The change is recorded (``fault_level_changed``: from, to, reason),
the level's response clocks start again with the new times (`bot.lifecycle.levels`),
and a ticket moved to the intermittent level (四级: 断续或间接影响服务) waits 72 h of
stable running before delivery instead of 24 h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.levels import reschedule
from bot.lifecycle.vocabulary import ACTIVE, WORKERS, EventKind
from compliance.classify import INTERMITTENT_LEVEL
from compliance.policy import Policy


def level_options(policy: Policy) -> Sequence[tuple[str, str]]:
    """The policy's fault levels, most severe first, as a form offers them."""
    return [(level.code, level.name) for level in policy.fault_levels]


@dataclass(frozen=True, slots=True)
class FaultLevelBody:
    level: str = given("故障等级", max_len=16, options=level_options)
    reason: str = given("调整原因", max_len=500)


async def change_level(ctx: ActionContext, body: FaultLevelBody) -> Outcome:
    """Set the ticket's fault level; its response clocks follow the new level."""
    policy, ticket = ctx.desk.policy, ctx.ticket
    level = next((lv for lv in policy.fault_levels if lv.code == body.level), None)
    if level is None:
        known = ", ".join(code for code, _name in level_options(policy))
        raise TicketError(
            "invalid",
            "bad_field",
            f"field 'level' must be one of {known}, got {body.level!r}",
            field="level",
        )
    if not body.reason.strip():
        raise TicketError("invalid", "bad_field", "请填写调整故障等级的原因", field="reason")
    previous = ticket.fault_level
    if previous == level.code:
        raise TicketError("conflict", "same_level", f"工单已是{level.name}")
    ticket.fault_level = level.code
    if level.code == INTERMITTENT_LEVEL:
        ticket.intermittent_fault = True
    data = {
        "from": previous,
        "to": level.code,
        "to_name": level.name,
        "reason": body.reason.strip(),
        "response_s": level.response_s,
        "remote_response_s": level.remote_response_s,
    }
    ctx.record(EventKind.FAULT_LEVEL_CHANGED, data=data)
    await reschedule(ctx.desk, ctx.session, ticket)
    return Outcome((EventKind.FAULT_LEVEL_CHANGED,), {"fault_level": data})


FAULT_LEVEL = Action(
    name="fault-level",
    title="调整故障等级",
    verb="调整故障等级",
    statuses=ACTIVE,
    roles=WORKERS,
    body=FaultLevelBody,
    records=(EventKind.FAULT_LEVEL_CHANGED,),
    run=change_level,
)
