"""What each SLA timer does when it fires, one handler per `TimerKind` (the scheduler
is `bot.timers`).

Every handler runs inside the scheduler's transaction, loads its ticket the way
actions do (`bot.lifecycle.access.load_ticket`: locked on PostgreSQL), re-checks
the ticket (a reminder for a ticket accepted meanwhile does nothing) and records
what it did as ticket events: reminders to the engineer and the managers
(``reminder_sent``), drafts for the engineer (``draft_suggested`` /
``progress_update_due``), the automatic escalation to the technical department.
None but ``survey_due`` sends a line to the customer by itself: what the customer
reads is the engineer's call.

- ``accept_engineer`` — the accept limit after opening (5 min, 30 min on a rest
  day, attended time): reminds the engineer; ``accept_manager``,
  `manager_reminder_after_s` later: reminds the managers.
- ``solution_warning`` — `solution_warning_lead_s` before the 4 h plan deadline:
  warns engineer and managers while the one extension can still be granted.
- ``solution_due`` — 4 h after acceptance with no plan and no extension, and
  ``extension_due`` — 8 h with the extension: escalates to the technical
  department and drafts the escalation notice.
- ``progress_update`` — working days 4 and 7, at opening: drafts the update with
  where the ticket really stands (`bot.lifecycle.aftercare.progress_status`; day 7
  offers a replacement unit).  Paused while the part is at the vendor.
- ``rma_chase`` — every 3 days while a part is at the vendor: chase reminder, and
  the next one scheduled (a chase on the promised return date is a single one);
  ``rma_product_manager`` — after 15 days: calls in the product manager for a
  return date.
- ``repair_due`` — the morning an in-house (7 working days) or factory (10, then
  15) repair limit ends: reminds the engineer, on the last day the managers too.
- ``stable_run_due`` — 24 h (72 h intermittent) after the fix: delivery may proceed.
- ``onsite_due`` — the on-site deadline's morning: reminds the engineer; the end of
  that day with nobody on site: drafts the reschedule line (next working day
  proposed) and reminds the engineer and the managers.
- ``archive_due`` — 2 working days after closing, not archived: reminds.
- ``fault_response_due``, ``remote_response_due`` — seed 002's per-level response
  and remote-response times (`bot.lifecycle.levels`); ``complaint_reply_due``,
  ``complaint_resolve_due`` — a complaint's 2 h and 15 days (`bot.lifecycle.complaints`).
- ``survey_due`` — the suggestion question unanswered for ``[satisfaction]
  survey_after_s``: the satisfaction survey goes out (`bot.lifecycle.satisfaction`),
  delivered once the timer's transaction has committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import LoadedTicket, load_ticket, roster_managers, suggest_draft
from bot.lifecycle.actions.solution import record_escalation
from bot.lifecycle.aftercare import progress_status
from bot.lifecycle.complaints import ComplaintDeadlines
from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import record, state_of
from bot.lifecycle.levels import LevelDeadlines
from bot.lifecycle.satisfaction import SurveyDeadlines
from bot.lifecycle.vocabulary import (
    ACTIVE,
    BOT_ACTOR,
    CLOSED,
    OPENED,
    SYSTEM_ACTOR,
    WORKING,
    EventKind,
    TimerKind,
)
from storage.delivery_models import OnsiteVisit
from storage.models import Engineer, Ticket
from storage.repair_models import RepairJob


class DeadlineHandlers:
    """The timer handlers of one desk; `handlers()` maps each `TimerKind` to its handler."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.policy = desk.policy

    def handlers(self) -> Mapping[str, timers.TimerHandler]:
        table: dict[str, timers.TimerHandler] = {
            TimerKind.ACCEPT_ENGINEER: self.accept_engineer,
            TimerKind.ACCEPT_MANAGER: self.accept_manager,
            TimerKind.SOLUTION_WARNING: self.solution_warning,
            TimerKind.SOLUTION_DUE: self.solution_due,
            TimerKind.EXTENSION_DUE: self.extension_due,
            TimerKind.PROGRESS: self.progress_update,
            TimerKind.RMA_CHASE: self.rma_chase,
            TimerKind.RMA_PM: self.rma_product_manager,
            TimerKind.STABLE_RUN: self.stable_run_due,
            TimerKind.ONSITE: self.onsite_due,
            TimerKind.REPAIR_DUE: self.repair_due,
            TimerKind.ARCHIVE: self.archive_due,
        }
        # Seed 002: the fault level's response clocks, a complaint's clocks.
        table.update(LevelDeadlines(self.desk).handlers())
        table.update(ComplaintDeadlines(self.desk).handlers())
        table.update(SurveyDeadlines(self.desk).handlers())
        return table

    # -- helpers -----------------------------------------------------------------

    async def _load(self, session: AsyncSession, timer: timers.DueTimer) -> LoadedTicket:
        """The timer's ticket, locked (the same path as every action's)."""
        return await load_ticket(self.desk, session, ticket_id=timer.ticket_id)

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
            record(
                session,
                ticket,
                EventKind.REMINDER_SENT,
                now,
                actor=SYSTEM_ACTOR,
                data={"to": person.staff_no, "reason": reason, **data},
            )
            reminded.append(person.staff_no)
        return reminded

    # -- accept ------------------------------------------------------------------

    async def accept_engineer(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        if ticket.status is not OPENED:
            return "accepted already"
        who = self._remind(session, ticket, now, [engineer], "accept_overdue")
        return f"reminded {','.join(who) or 'nobody'}"

    async def accept_manager(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        if ticket.status is not OPENED:
            return "accepted already"
        who = self._remind(
            session,
            ticket,
            now,
            await roster_managers(session),
            "accept_overdue",
            engineer=engineer.staff_no if engineer else None,
        )
        return f"reminded {','.join(who) or 'nobody'}"

    # -- solution, extension, escalation ---------------------------------------------

    async def solution_warning(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        state = await state_of(session, ticket.id)
        if ticket.status not in WORKING or state.solution_given or state.extensions:
            return "nothing to do"
        managers = await roster_managers(session)
        who = self._remind(session, ticket, now, [engineer, *managers], "solution_due_soon")
        return f"warned {','.join(who)}"

    async def solution_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        """4 h after acceptance with no plan and no extension: the technical department."""
        loaded = await self._load(session, timer)
        ticket = loaded.ticket
        state = await state_of(session, ticket.id)
        if ticket.status not in WORKING or state.solution_given or state.extensions:
            return "nothing to do"
        if state.escalated:
            return "escalated already"
        return await self._escalate(session, loaded, now, "solution_overdue")

    async def extension_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await self._load(session, timer)
        ticket = loaded.ticket
        state = await state_of(session, ticket.id)
        if ticket.status not in WORKING or state.solution_given:
            return "nothing to do"
        if state.escalated:
            return "escalated already"
        return await self._escalate(session, loaded, now, "extension_overdue")

    async def _escalate(
        self, session: AsyncSession, loaded: LoadedTicket, now: datetime, reason: str
    ) -> str:
        ticket, engineer, address = loaded.ticket, loaded.engineer, loaded.address
        record_escalation(session, self.policy, ticket, now, BOT_ACTOR, reason, automatic=True)
        line = self.desk.prompter.escalation_notice(ticket.number, ticket.channel, address)
        suggest_draft(session, ticket, line, now, reason=reason)
        managers = await roster_managers(session)
        self._remind(session, ticket, now, [engineer, *managers], reason)
        return "escalated"

    # -- progress --------------------------------------------------------------------

    async def progress_update(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        """Working day 4 / 7 of an undelivered ticket: draft the update for the engineer."""
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        if ticket.status not in (OPENED, *WORKING):
            return "delivered already"
        state = await state_of(session, ticket.id)
        if state.rma_open:
            return "paused: part at the vendor"
        day = int(timer.payload.get("day", 4))
        status = await progress_status(session, ticket, state, self.policy)
        line = self.desk.prompter.progress_update(
            day, ticket.number, status, ticket.channel, loaded.address
        )
        replacement = day >= self.policy.sla.replacement_offer_day
        record(
            session,
            ticket,
            EventKind.PROGRESS_UPDATE_DUE,
            now,
            actor=BOT_ACTOR,
            data={
                **line.to_dict(),
                "day": day,
                "status": status,
                "replacement_offer": replacement,
            },
        )
        self._remind(session, ticket, now, [engineer], f"progress_day{day}")
        return f"day {day} drafted"

    # -- vendor RMA ------------------------------------------------------------------

    async def rma_chase(self, session: AsyncSession, timer: timers.DueTimer, now: datetime) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        state = await state_of(session, ticket.id)
        if not state.rma_open or ticket.status is CLOSED:
            return "part returned"
        if timer.payload.get("chase") == "promised":
            promised = timer.payload.get("promised_on")
            record(
                session,
                ticket,
                EventKind.RMA_CHASE_DUE,
                now,
                actor=BOT_ACTOR,
                data={"chase": "promised", "promised_on": promised},
            )
            self._remind(
                session, ticket, now, [engineer], "rma_promised_date", promised_on=promised
            )
            return "promised date chase"
        chase = int(timer.payload.get("chase", 1))
        record(
            session, ticket, EventKind.RMA_CHASE_DUE, now, actor=BOT_ACTOR, data={"chase": chase}
        )
        self._remind(session, ticket, now, [engineer], "rma_chase", chase=chase)
        timers.schedule(
            session,
            TimerKind.RMA_CHASE,
            timer.due_at + timedelta(days=self.policy.sla.rma_chase_every_days),
            ticket_id=ticket.id,
            payload={"chase": chase + 1},
        )
        return f"chase {chase}"

    async def rma_product_manager(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        state = await state_of(session, ticket.id)
        if not state.rma_open or ticket.status is CLOSED:
            return "part returned"
        managers = await roster_managers(session)
        days = self.policy.sla.rma_product_manager_after_days
        self._remind(
            session,
            ticket,
            now,
            [engineer, *managers],
            "rma_product_manager",
            note=f"原厂保修超过{days}天未返回：请产品经理介入并给出具体返回日期",
        )
        return "product manager called in"

    # -- repair limits (seed 004 1.3.3) --------------------------------------------------

    async def repair_due(self, session: AsyncSession, timer: timers.DueTimer, now: datetime) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        job = await session.get(RepairJob, int(timer.payload.get("job", 0)))
        if job is None or job.finished_at is not None or ticket.status not in WORKING:
            return "nothing to do"
        last = timer.payload.get("stage") == "latest"
        people = [engineer, *(await roster_managers(session))] if last else [engineer]
        reason = "repair_latest_due" if last else "repair_due"
        who = self._remind(
            session, ticket, now, people, reason, path=job.path, day=timer.payload.get("day")
        )
        return f"reminded {','.join(who) or 'nobody'}"

    # -- delivery, visit, archive ------------------------------------------------------

    async def stable_run_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        if ticket.status not in WORKING:
            return "nothing to do"
        record(session, ticket, EventKind.STABLE_RUN_ELAPSED, now, actor=BOT_ACTOR)
        self._remind(session, ticket, now, [engineer], "ready_for_delivery")
        return "ready for delivery"

    async def onsite_due(self, session: AsyncSession, timer: timers.DueTimer, now: datetime) -> str:
        """The visit's morning: remind; its evening, nobody there: the reschedule line."""
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        visit = await session.get(OnsiteVisit, ticket.id)
        if ticket.status not in WORKING or (visit is not None and visit.arrived_at is not None):
            return "nothing to do"
        due_on = timer.payload.get("due_on")
        if timer.payload.get("stage") != "late":
            self._remind(session, ticket, now, [engineer], "onsite_due", due_on=due_on)
            return "engineer reminded"
        calendar = self.desk.calendar
        proposed = calendar.add_working_days(calendar.local_date(now), 1)
        line = self.desk.prompter.onsite_reschedule(
            proposed, ticket.channel, address=loaded.address
        )
        suggest_draft(session, ticket, line, now, reason="onsite_late", due_on=due_on)
        managers = await roster_managers(session)
        self._remind(session, ticket, now, [engineer, *managers], "onsite_late", due_on=due_on)
        return "reschedule drafted"

    async def archive_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str:
        loaded = await self._load(session, timer)
        ticket, engineer = loaded.ticket, loaded.engineer
        state = await state_of(session, ticket.id)
        if state.archived or ticket.status in ACTIVE:
            return "nothing to do"
        managers = await roster_managers(session)
        self._remind(session, ticket, now, [engineer, *managers], "archive_overdue")
        return "archive overdue"
