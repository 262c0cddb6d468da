"""The plan's clock (seed 000 1.3): the solution, its one extension, the escalation.

A plan is due within 4 h (attended time) of acceptance.  The engineer may ask
for the one extension (`extension-request`: the managers are reminded); a
manager grants it after calling the customer (`extension`), giving 4 h more;
past that, or at any time, the ticket is escalated to the technical
department — by the engineer, or by the deadline timers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError, has_role
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.actions.onsite import schedule_onsite
from bot.lifecycle.bodies import given
from bot.lifecycle.journal import record
from bot.lifecycle.vocabulary import (
    MANAGERS,
    WORKERS,
    WORKING,
    EngineerRole,
    EventKind,
    TimerKind,
)
from compliance.policy import Policy
from storage.models import Engineer, Ticket


@dataclass(frozen=True, slots=True)
class SolutionBody:
    summary: str = given("解决方案摘要")
    onsite_km: float | None = given("需上门时的距离（公里）", default=None)


async def give_solution(ctx: ActionContext, body: SolutionBody) -> Outcome:
    """The plan is given to the customer (`solution_given`); with a distance, the visit."""
    ctx.record(EventKind.SOLUTION_GIVEN, data={"summary": body.summary})
    ctx.start_working()
    ctx.ticket.summary = body.summary
    await timers.cancel(
        ctx.session,
        ctx.ticket.id,
        (TimerKind.SOLUTION_WARNING, TimerKind.SOLUTION_DUE, TimerKind.EXTENSION_DUE),
    )
    if body.onsite_km is None:
        return Outcome((EventKind.SOLUTION_GIVEN,))
    onsite = await schedule_onsite(ctx, body.onsite_km)
    return Outcome((EventKind.SOLUTION_GIVEN, EventKind.ONSITE_SCHEDULED), {"onsite": onsite})


@dataclass(frozen=True, slots=True)
class ExtensionRequestBody:
    reason: str = given("申请延期的原因", max_len=1000)


async def request_extension(ctx: ActionContext, body: ExtensionRequestBody) -> Outcome:
    """The engineer asks for the one extension; the managers on duty are reminded to call
    the customer and grant it."""
    ctx.record(EventKind.EXTENSION_REQUESTED, data={"reason": body.reason})
    on_duty = await ctx.session.scalars(select(Engineer).where(Engineer.on_duty.is_(True)))
    for manager in on_duty:
        if has_role(manager, EngineerRole.MANAGER):
            ctx.record(
                EventKind.REMINDER_SENT,
                data={"to": manager.staff_no, "reason": EventKind.EXTENSION_REQUESTED.value},
            )
    return Outcome((EventKind.EXTENSION_REQUESTED,))


@dataclass(frozen=True, slots=True)
class ExtensionBody:
    call_note: str = given("已与客户电话沟通的内容", max_len=1000)


async def grant_extension(ctx: ActionContext, body: ExtensionBody) -> Outcome:
    """The one extension of the solution time, after the manager called the customer."""
    desk, ticket, now = ctx.desk, ctx.ticket, ctx.now
    state = await ctx.state()
    sla, department = desk.policy.sla, desk.policy.company.technical_department
    if state.solution_given:
        raise TicketError("conflict", "solution_already_given", "方案已给出，无需延长")
    if state.escalated:
        raise TicketError("conflict", "already_escalated", "工单已升级至技术部，不能再延长")
    if state.extensions >= sla.max_extensions:
        raise TicketError(
            "conflict",
            "extension_limit",
            f"方案时效只能延长 {sla.max_extensions} 次，请升级至{department}",
        )
    accepted = ticket.accepted_at or now
    used = desk.clock.attended_seconds_between(accepted, now, ticket.channel)
    if used > sla.solution_s:
        raise TicketError(
            "conflict",
            "solution_deadline_passed",
            f"已超过方案时效，不能再延长，请升级至{department}",
        )
    manager = ctx.actor
    ctx.record(
        EventKind.EXTENSION_GRANTED,
        data={"manager": manager.staff_no, "call_note": body.call_note},
    )
    await timers.cancel(
        ctx.session, ticket.id, (TimerKind.SOLUTION_WARNING, TimerKind.SOLUTION_DUE)
    )
    due = desk.clock.deadline_after(accepted, sla.solution_s + sla.extension_s, ticket.channel)
    timers.schedule(ctx.session, TimerKind.EXTENSION_DUE, due, ticket_id=ticket.id)
    call = desk.prompter.extension_call(manager.name, ctx.address)
    return Outcome(
        (EventKind.EXTENSION_GRANTED,),
        {"extension_due": due.isoformat(), "call_script": call.text},
    )


@dataclass(frozen=True, slots=True)
class EscalationBody:
    reason: str = given("升级至技术部的原因", max_len=1000)
    notify_customer: bool = given("告知客户", default=True)


def record_escalation(
    session: AsyncSession,
    policy: Policy,
    ticket: Ticket,
    now: datetime,
    actor: str,
    reason: str,
    *,
    automatic: bool,
) -> None:
    """Record `escalated` to the policy's technical department (by hand or by a timer)."""
    data: dict[str, Any] = {
        "to": policy.company.technical_department,
        "reason": reason,
        "automatic": automatic,
    }
    record(session, ticket, EventKind.ESCALATED, now, actor=actor, data=data)


async def escalate(ctx: ActionContext, body: EscalationBody) -> Outcome:
    """Bring in the technical department (`escalated`) and tell the customer."""
    if (await ctx.state()).escalated:
        raise TicketError("conflict", "already_escalated", "工单已升级至技术部")
    record_escalation(
        ctx.session,
        ctx.desk.policy,
        ctx.ticket,
        ctx.now,
        ctx.actor.staff_no,
        body.reason,
        automatic=False,
    )
    if body.notify_customer:
        notice = ctx.desk.prompter.escalation_notice(
            ctx.ticket.number, ctx.ticket.channel, ctx.address
        )
        await ctx.say(notice)
    return Outcome((EventKind.ESCALATED,))


SOLUTION = Action(
    name="solution",
    title="给出方案",
    verb="给出解决方案",
    statuses=WORKING,
    roles=WORKERS,
    body=SolutionBody,
    records=(EventKind.SOLUTION_GIVEN, EventKind.ONSITE_SCHEDULED, EventKind.DRAFT_SUGGESTED),
    run=give_solution,
)
EXTENSION_REQUEST = Action(
    name="extension-request",
    title="申请延期",
    verb="申请延期",
    statuses=WORKING,
    roles=WORKERS,
    body=ExtensionRequestBody,
    records=(EventKind.EXTENSION_REQUESTED, EventKind.REMINDER_SENT),
    run=request_extension,
)
EXTENSION = Action(
    name="extension",
    title="批准延期",
    verb="延长方案时效",
    statuses=WORKING,
    roles=MANAGERS,
    body=ExtensionBody,
    records=(EventKind.EXTENSION_GRANTED,),
    run=grant_extension,
)
ESCALATE = Action(
    name="escalate",
    title="升级技术部",
    verb="升级",
    # After accepting: the engineer who escalates has looked at the case (the timers
    # escalate on their own, whatever the status).
    statuses=WORKING,
    roles=WORKERS,
    body=EscalationBody,
    records=(EventKind.ESCALATED,),
    run=escalate,
)
