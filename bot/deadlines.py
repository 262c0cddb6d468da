"""What each SLA timer does when it fires (the scheduler is `bot.timers`).

Every handler runs inside the scheduler's transaction, locks its ticket on
PostgreSQL, re-checks the ticket (a reminder for a ticket accepted meanwhile
does nothing) and records what it did as ticket events: reminders to the
engineer and the managers (``reminder_sent``), drafts for the engineer
(``draft_suggested`` / ``progress_update_due``), the automatic escalation to
the technical department.  None sends a line to the customer by itself: what
the customer reads is the engineer's call.

- ``accept_engineer`` — the accept limit after opening (5 min, 30 min on a rest
  day, attended time): reminds the engineer; ``accept_manager``,
  `manager_reminder_after_s` later: reminds the managers.
- ``solution_warning`` — `solution_warning_lead_s` before the 4 h plan deadline:
  warns engineer and managers while the one extension can still be granted.
- ``solution_due`` — 4 h after acceptance with no plan and no extension, and
  ``extension_due`` — 8 h with the extension: escalates to the technical
  department and drafts the escalation notice.
- ``progress_update`` — working days 4 and 7, at opening: drafts the update (day 7
  offers a replacement unit).
- ``rma_chase`` — every 3 days while a part is at the vendor: chase reminder, and
  the next one scheduled; ``rma_product_manager`` — after 15 days: calls in the
  product manager.
- ``stable_run_due`` — 24 h (72 h intermittent) after the fix: delivery may proceed.
- ``onsite_due`` — the on-site deadline's morning: reminds the engineer.
- ``archive_due`` — 2 working days after closing, not archived: reminds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.prompting import customer_address
from bot.tickets import (
    ACTIVE,
    BOT_ACTOR,
    CLOSED,
    OPENED,
    SYSTEM_ACTOR,
    T_ACCEPT_ENGINEER,
    T_ACCEPT_MANAGER,
    T_ARCHIVE,
    T_EXTENSION_DUE,
    T_ONSITE,
    T_PROGRESS,
    T_RMA_CHASE,
    T_RMA_PM,
    T_SOLUTION_DUE,
    T_SOLUTION_WARNING,
    T_STABLE_RUN,
    WORKING,
    TicketService,
    seed_stamp,
)
from storage.models import Customer, Engineer, EventKind, Ticket


class DeadlineHandlers:
    """The timer handlers of one `TicketService`; `handlers()` maps kind to handler."""

    def __init__(self, tickets: TicketService) -> None:
        self.tickets = tickets
        self.policy = tickets.policy

    def handlers(self) -> dict[str, timers.TimerHandler]:
        return {
            T_ACCEPT_ENGINEER: self.accept_engineer,
            T_ACCEPT_MANAGER: self.accept_manager,
            T_SOLUTION_WARNING: self.solution_warning,
            T_SOLUTION_DUE: self.solution_due,
            T_EXTENSION_DUE: self.extension_due,
            T_PROGRESS: self.progress_update,
            T_RMA_CHASE: self.rma_chase,
            T_RMA_PM: self.rma_product_manager,
            T_STABLE_RUN: self.stable_run_due,
            T_ONSITE: self.onsite_due,
            T_ARCHIVE: self.archive_due,
        }

    # -- helpers -----------------------------------------------------------------

    async def _ticket(
        self, session: AsyncSession, timer: timers.DueTimer
    ) -> tuple[Ticket, Engineer | None]:
        query = select(Ticket).where(Ticket.id == timer.ticket_id)
        if self.tickets.lock_rows:
            query = query.with_for_update()
        ticket = (await session.execute(query)).scalar_one()
        await seed_stamp(session, ticket.id)
        engineer = (
            await session.get(Engineer, ticket.assigned_engineer_id)
            if ticket.assigned_engineer_id
            else None
        )
        return ticket, engineer

    def _remind(
        self,
        session: AsyncSession,
        ticket: Ticket,
        now: datetime,
        people: Sequence[Engineer | None],
        reason: str,
        **data: Any,
    ) -> list[str]:
        """One ``reminder_sent`` event per person (the console shows them as notifications)."""
        reminded: list[str] = []
        for person in people:
            if person is None or person.staff_no in reminded:
                continue
            self.tickets.record(
                session,
                ticket,
                "reminder_sent",
                now,
                actor=SYSTEM_ACTOR,
                data={"to": person.staff_no, "reason": reason, **data},
            )
            reminded.append(person.staff_no)
        return reminded

    async def _address(self, session: AsyncSession, ticket: Ticket) -> str:
        customer = await session.get(Customer, ticket.customer_id)
        return customer_address(customer.surname, customer.title) if customer else "您"

    # -- accept ------------------------------------------------------------------

    async def accept_engineer(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        ticket, engineer = await self._ticket(session, timer)
        if ticket.status is not OPENED:
            return "accepted already"
        who = self._remind(session, ticket, now, [engineer], "accept_overdue")
        return f"reminded {','.join(who) or 'nobody'}"

    async def accept_manager(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        ticket, engineer = await self._ticket(session, timer)
        if ticket.status is not OPENED:
            return "accepted already"
        who = self._remind(
            session,
            ticket,
            now,
            await self.tickets.managers(session),
            "accept_overdue",
            engineer=engineer.staff_no if engineer else None,
        )
        return f"reminded {','.join(who) or 'nobody'}"

    # -- solution, extension, escalation ---------------------------------------------

    async def solution_warning(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        ticket, engineer = await self._ticket(session, timer)
        state = await self.tickets.state(session, ticket.id)
        if ticket.status not in WORKING or state.solution_given or state.extensions:
            return "nothing to do"
        managers = await self.tickets.managers(session)
        who = self._remind(session, ticket, now, [engineer, *managers], "solution_due_soon")
        return f"warned {','.join(who)}"

    async def solution_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        """4 h after acceptance with no plan and no extension: the technical department."""
        ticket, engineer = await self._ticket(session, timer)
        state = await self.tickets.state(session, ticket.id)
        if ticket.status not in WORKING or state.solution_given or state.extensions:
            return "nothing to do"
        if state.escalated:
            return "escalated already"
        return await self._escalate(session, ticket, engineer, now, "solution_overdue")

    async def extension_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        ticket, engineer = await self._ticket(session, timer)
        state = await self.tickets.state(session, ticket.id)
        if ticket.status not in WORKING or state.solution_given:
            return "nothing to do"
        if state.escalated:
            return "escalated already"
        return await self._escalate(session, ticket, engineer, now, "extension_overdue")

    async def _escalate(
        self,
        session: AsyncSession,
        ticket: Ticket,
        engineer: Engineer | None,
        now: datetime,
        reason: str,
    ) -> str:
        self.tickets.escalate_in(session, ticket, now, BOT_ACTOR, reason, automatic=True)
        line = self.tickets.prompter.escalation_notice(
            ticket.number, ticket.channel, await self._address(session, ticket)
        )
        self.tickets.suggest_draft(session, ticket, line, now, reason=reason)
        managers = await self.tickets.managers(session)
        self._remind(session, ticket, now, [engineer, *managers], reason)
        return "escalated"

    # -- progress --------------------------------------------------------------------

    async def progress_update(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        """Working day 4 / 7 of an undelivered ticket: draft the update for the engineer."""
        ticket, engineer = await self._ticket(session, timer)
        if ticket.status not in (OPENED, *WORKING):
            return "delivered already"
        day = int(timer.payload.get("day", 4))
        line = self.tickets.prompter.progress_update(
            day,
            ticket.number,
            "工程师正在排查处理中",
            ticket.channel,
            await self._address(session, ticket),
        )
        replacement = day >= self.policy.sla.replacement_offer_day
        self.tickets.record(
            session,
            ticket,
            "progress_update_due",
            now,
            actor=BOT_ACTOR,
            data={**line.to_dict(), "day": day, "replacement_offer": replacement},
        )
        self._remind(session, ticket, now, [engineer], f"progress_day{day}")
        return f"day {day} drafted"

    # -- vendor RMA ------------------------------------------------------------------

    async def rma_chase(self, session: AsyncSession, timer: timers.DueTimer, now: datetime) -> str:
        ticket, engineer = await self._ticket(session, timer)
        state = await self.tickets.state(session, ticket.id)
        if not state.rma_open or ticket.status is CLOSED:
            return "part returned"
        chase = int(timer.payload.get("chase", 1))
        self.tickets.record(
            session, ticket, "rma_chase_due", now, actor=BOT_ACTOR, data={"chase": chase}
        )
        self._remind(session, ticket, now, [engineer], "rma_chase", chase=chase)
        timers.schedule(
            session,
            T_RMA_CHASE,
            timer.due_at + timedelta(days=self.policy.sla.rma_chase_every_days),
            ticket_id=ticket.id,
            payload={"chase": chase + 1},
        )
        return f"chase {chase}"

    async def rma_product_manager(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        ticket, engineer = await self._ticket(session, timer)
        state = await self.tickets.state(session, ticket.id)
        if not state.rma_open or ticket.status is CLOSED:
            return "part returned"
        managers = await self.tickets.managers(session)
        self._remind(session, ticket, now, [engineer, *managers], "rma_product_manager")
        return "product manager called in"

    # -- delivery, visit, archive ------------------------------------------------------

    async def stable_run_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        ticket, engineer = await self._ticket(session, timer)
        if ticket.status not in WORKING:
            return "nothing to do"
        self.tickets.record(session, ticket, EventKind.STABLE_RUN_ELAPSED, now, actor=BOT_ACTOR)
        self._remind(session, ticket, now, [engineer], "ready_for_delivery")
        return "ready for delivery"

    async def onsite_due(self, session: AsyncSession, timer: timers.DueTimer, now: datetime) -> str:
        ticket, engineer = await self._ticket(session, timer)
        if ticket.status not in WORKING:
            return "nothing to do"
        self._remind(
            session, ticket, now, [engineer], "onsite_due", due_on=timer.payload.get("due_on")
        )
        return "engineer reminded"

    async def archive_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        ticket, engineer = await self._ticket(session, timer)
        state = await self.tickets.state(session, ticket.id)
        if state.archived or ticket.status in ACTIVE:
            return "nothing to do"
        managers = await self.tickets.managers(session)
        self._remind(session, ticket, now, [engineer, *managers], "archive_overdue")
        return "archive overdue"
