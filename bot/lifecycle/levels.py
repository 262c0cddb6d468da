"""Seed 002's per-level clocks: the fault level's response and remote-response times.

In a profile with fault levels (``sla.response_by_fault_level``) a new ticket gets a
``fault_response_due`` timer at its level's response time (1.1.7 支持响应时间表: “从
我公司确认客户服务请求到我公司技术人员和客户进行联络的时间”), counted in the profile's
attended hours from opening; when it fires and no engineer has been in touch — the
ticket accepted and a line sent since, or a call or visit recorded — the engineer and
the managers are reminded.  When remote access is first asked for (the backup warning
or the remote request), ``remote_response_due`` runs the level's remote-response time
(1.1.8: “从我公司向客户确认指导不能排除故障到我公司技术人员远程登录到服务器的时间”) until
the remote login.  Changing the level (`reschedule`) moves both clocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import load_ticket, roster_managers
from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import state_of
from bot.lifecycle.notify import remind
from bot.lifecycle.vocabulary import OPENED, WORKING, TimerKind
from compliance.calendar import as_aware
from compliance.policy import FaultLevel
from storage.duty_models import ContactRecord
from storage.models import Message, MessageRole, Ticket, Timer


def timed_level(desk: Desk, ticket: Ticket) -> FaultLevel | None:
    """The ticket's fault level when the profile times responses by level, else None."""
    if not desk.policy.sla.response_by_fault_level:
        return None
    return desk.policy.fault_level(ticket.fault_level)


def schedule_response(desk: Desk, session: AsyncSession, ticket: Ticket) -> datetime | None:
    """The level's response timer from the ticket's opening; its due time, or None."""
    level = timed_level(desk, ticket)
    if level is None or level.response_s is None:
        return None
    due = desk.clock.deadline_after(ticket.opened_at, level.response_s, ticket.channel)
    timers.schedule(
        session,
        TimerKind.FAULT_RESPONSE,
        due,
        ticket_id=ticket.id,
        payload={"level": level.code, "limit_s": level.response_s},
    )
    return due


async def start_remote_clock(
    desk: Desk, session: AsyncSession, ticket: Ticket, at: datetime
) -> None:
    """Remote access was first asked for: the level's remote-response timer (once)."""
    level = timed_level(desk, ticket)
    if level is None or level.remote_response_s is None:
        return
    started = await session.scalar(
        select(Timer.id)
        .where(Timer.ticket_id == ticket.id, Timer.kind == TimerKind.REMOTE_RESPONSE)
        .limit(1)
    )
    if started is not None:
        return
    _schedule_remote(desk, session, ticket, level, at)


def _schedule_remote(
    desk: Desk, session: AsyncSession, ticket: Ticket, level: FaultLevel, start: datetime
) -> None:
    assert level.remote_response_s is not None
    due = desk.clock.deadline_after(start, level.remote_response_s, ticket.channel)
    timers.schedule(
        session,
        TimerKind.REMOTE_RESPONSE,
        due,
        ticket_id=ticket.id,
        payload={
            "level": level.code,
            "limit_s": level.remote_response_s,
            "requested_at": as_aware(start).isoformat(),
        },
    )


async def reschedule(desk: Desk, session: AsyncSession, ticket: Ticket) -> None:
    """The level changed: its pending clocks start again with the new level's times."""
    pending = (
        await session.execute(
            select(Timer).where(
                Timer.ticket_id == ticket.id,
                Timer.kind.in_((TimerKind.FAULT_RESPONSE, TimerKind.REMOTE_RESPONSE)),
                Timer.status == timers.PENDING,
            )
        )
    ).scalars()
    remote_from: datetime | None = None
    response_pending = False
    for timer in pending:
        if timer.kind == TimerKind.REMOTE_RESPONSE:
            remote_from = datetime.fromisoformat(str(timer.payload["requested_at"]))
        else:
            response_pending = True
    await timers.cancel(session, ticket.id, (TimerKind.FAULT_RESPONSE, TimerKind.REMOTE_RESPONSE))
    if response_pending or not await contacted(session, ticket):
        schedule_response(desk, session, ticket)
    level = timed_level(desk, ticket)
    if remote_from is not None and level is not None and level.remote_response_s is not None:
        _schedule_remote(desk, session, ticket, level, remote_from)


async def contacted(session: AsyncSession, ticket: Ticket) -> bool:
    """An engineer has been in touch: accepted and wrote since, or called or visited."""
    if ticket.accepted_at is not None:
        wrote = await session.scalar(
            select(Message.id)
            .where(
                Message.ticket_id == ticket.id,
                Message.role == MessageRole.AGENT,
                Message.sent_at >= ticket.accepted_at,
            )
            .limit(1)
        )
        if wrote is not None:
            return True
    called = await session.scalar(
        select(ContactRecord.id).where(ContactRecord.ticket_id == ticket.id).limit(1)
    )
    return called is not None


class LevelDeadlines:
    """The handlers of the level clocks (merged into `DeadlineHandlers`)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def handlers(self) -> Mapping[str, timers.TimerHandler]:
        return {
            TimerKind.FAULT_RESPONSE: self.fault_response,
            TimerKind.REMOTE_RESPONSE: self.remote_response,
        }

    def _name(self, code: str) -> str:
        level = self.desk.policy.fault_level(code)
        return level.name if level else code

    async def fault_response(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await load_ticket(self.desk, session, ticket_id=timer.ticket_id)
        ticket, engineer = loaded.ticket, loaded.engineer
        if ticket.status not in (OPENED, *WORKING):
            return "nothing to do"
        if await contacted(session, ticket):
            return "answered in time"
        code = str(timer.payload.get("level"))
        who = remind(
            session,
            ticket,
            now,
            [engineer, *await roster_managers(session)],
            "fault_response_overdue",
            level=code,
            level_name=self._name(code),
            limit_s=timer.payload.get("limit_s"),
        )
        return f"reminded {','.join(who) or 'nobody'}"

    async def remote_response(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await load_ticket(self.desk, session, ticket_id=timer.ticket_id)
        ticket, engineer = loaded.ticket, loaded.engineer
        if ticket.status not in WORKING or (await state_of(session, ticket.id)).remote_login:
            return "nothing to do"
        code = str(timer.payload.get("level"))
        who = remind(
            session,
            ticket,
            now,
            [engineer, *await roster_managers(session)],
            "remote_response_overdue",
            level=code,
            level_name=self._name(code),
            limit_s=timer.payload.get("limit_s"),
        )
        return f"reminded {','.join(who) or 'nobody'}"
