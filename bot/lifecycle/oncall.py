"""On-call routing (seed 003 运维技术服务值班管理制度): who takes a ticket out of hours.

“适用在非正常上班时间段和节假日 … 公司实行非上班时段，包括节假日实行技术人员轮流值班
方式服务时段为早上8:00晚上19:00，每月轮换一次。”  A ticket opened on a rest day, or on
a working day outside the working day (``[duty] workday_opens``–``workday_closes``,
朴赛 9:30–18:00), goes to the month's engineer on duty (`storage.duty_models.DutyRota`);
so does one whose first message the customer marks urgent (紧急 …, ``[duty]
urgent_cues``) whenever it comes.  The routing is recorded (``routed_on_call``: why,
who, whether it came inside the duty window ``opens``–``closes``) and every manager is
alerted.  With nobody on the rota for the month the ticket is assigned as usual and
the managers are told the rota is empty.  A later message marked urgent outside the
working day hands an open ticket to the engineer on duty (`urgent_later`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.access import roster_managers
from bot.lifecycle.desk import Desk
from bot.lifecycle.frontdesk import greeted
from bot.lifecycle.journal import record
from bot.lifecycle.notify import remind
from bot.lifecycle.outbox import store_line
from bot.lifecycle.vocabulary import BOT_ACTOR, EventKind
from bot.messages import OutboundMessage
from compliance.calendar import WorkCalendar, as_aware
from compliance.policy import Policy
from storage.duty_models import DutyRota
from storage.models import Engineer, Message, Ticket, TicketEvent

# Why a ticket went to the engineer on duty.
REST_DAY = "rest_day"
OUT_OF_HOURS = "out_of_hours"
URGENT = "urgent"


def duty_month(local: datetime) -> str:
    """The rota month (``YYYY-MM``) of a local time."""
    return f"{local.year:04d}-{local.month:02d}"


def off_hours(policy: Policy, calendar: WorkCalendar, at: datetime) -> str | None:
    """``rest_day`` or ``out_of_hours`` when `at` falls outside the working day, else None."""
    local = as_aware(at).astimezone(calendar.tz)
    if not calendar.is_working_day(local.date()):
        return REST_DAY
    moment = local.time()
    if moment < policy.duty.workday_opens or moment >= policy.duty.workday_closes:
        return OUT_OF_HOURS
    return None


def in_duty_window(policy: Policy, moment: time) -> bool:
    return policy.duty.opens <= moment < policy.duty.closes


def urgent_cue(policy: Policy, text: str) -> str | None:
    """The urgent cue (紧急 …) in a customer's text, if any."""
    return next((cue for cue in policy.duty.urgent_cues if cue and cue in text), None)


async def on_duty(session: AsyncSession, month: str) -> Engineer | None:
    """The engineer on the rota for `month`, or None."""
    return await session.scalar(
        select(Engineer)
        .join(DutyRota, DutyRota.engineer_id == Engineer.id)
        .where(DutyRota.month == month)
    )


@dataclass(frozen=True, slots=True)
class Routing:
    """Why a new ticket goes on call, and to whom (None: nobody on the rota)."""

    reason: str
    month: str
    engineer: Engineer | None
    in_window: bool
    cue: str | None = None


async def route(desk: Desk, session: AsyncSession, text: str, at: datetime) -> Routing | None:
    """The on-call routing of a ticket opened at `at` with first message `text`, or None."""
    policy = desk.policy
    if not policy.duty.enabled:
        return None
    cue = urgent_cue(policy, text)
    reason = URGENT if cue is not None else off_hours(policy, desk.calendar, at)
    if reason is None:
        return None
    local = as_aware(at).astimezone(desk.calendar.tz)
    month = duty_month(local)
    engineer = await on_duty(session, month)
    return Routing(reason, month, engineer, in_duty_window(policy, local.time()), cue)


async def record_routing(
    session: AsyncSession, ticket: Ticket, routing: Routing, at: datetime
) -> None:
    """Record the routing and alert every manager (seed 000: 紧急事件 … 申请管理人员协调)."""
    data = {
        "why": routing.reason,
        "month": routing.month,
        "staff_no": routing.engineer.staff_no if routing.engineer else None,
        "in_duty_window": routing.in_window,
        "cue": routing.cue,
    }
    record(session, ticket, EventKind.ROUTED_ON_CALL, at, actor=BOT_ACTOR, data=data)
    reason = "duty_routed" if routing.engineer is not None else "duty_rota_empty"
    remind(session, ticket, at, await roster_managers(session), reason, **data)


async def urgent_later(
    desk: Desk,
    session: AsyncSession,
    ticket: Ticket,
    engineer: Engineer | None,
    message: Message,
    now: datetime,
) -> list[OutboundMessage]:
    """A later customer message marked urgent outside the working day: the ticket goes
    to the engineer on duty (who greets the customer with name and 工号), once per
    ticket, and the managers are alerted.  In the working day the assigned engineer
    is at work and keeps it; an urgent first message is `route`'s."""
    policy = desk.policy
    cue = urgent_cue(policy, message.text)
    if cue is None or not policy.duty.enabled:
        return []
    why = off_hours(policy, desk.calendar, now)
    if why is None:
        return []
    already = await session.scalar(
        select(TicketEvent.id)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.event == EventKind.ROUTED_ON_CALL)
        .limit(1)
    )
    if already is not None:
        return []
    local = as_aware(now).astimezone(desk.calendar.tz)
    month = duty_month(local)
    duty = await on_duty(session, month)
    routing = Routing(URGENT, month, duty, in_duty_window(policy, local.time()), cue)
    await record_routing(session, ticket, routing, now)
    if duty is None or (engineer is not None and engineer.id == duty.id):
        return []
    ticket.assigned_engineer_id = duty.id
    record(
        session,
        ticket,
        EventKind.REASSIGNED,
        now,
        actor=BOT_ACTOR,
        data={
            "from": engineer.staff_no if engineer else None,
            "to": duty.staff_no,
            "reason": f"on call (seed 003): {why}",
        },
    )
    if await greeted(session, ticket.id):
        line = desk.prompter.handover(duty.name, duty.staff_no, ticket.channel)
    else:
        line = desk.prompter.greeting(duty.name, duty.staff_no, ticket.channel)
    return [await store_line(session, ticket, duty, line, now, in_reply_to=message.id)]
