"""The satisfaction loop (seed 003 评分等级, its service form; seed 000 2.a.2 邀评).

A rating is never lost:

- the survey follows the suggestion question even when the customer leaves it
  unanswered: `schedule_survey` sets a ``survey_due`` timer (``[satisfaction]
  survey_after_s`` of attended time), and `SurveyDeadlines` sends the survey then
  (also after close: the timer outlives the ticket);
- `read_rating` reads the customer's answer to the survey: the thanks line, then
  after 很满意 / 满意 the review invitation (``review_invited``), after 一般 /
  不满意 the question of seed 003's form (服务态度 / 技术水平 / 响应速度) and an
  alert to every manager (``low_satisfaction``); the next line is the reason
  (``satisfaction_reason``, the managers alerted again with it), answered with seed 000's
  line for a complaint (感谢您的提议和指导 … 给您添麻烦了);
- a rating, or its reason, written after the ticket closed joins the closed ticket
  within ``late_rating_days`` (`closed_awaiting`): it never opens a new ticket.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import load_ticket, roster_managers
from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import TicketState, record, state_of
from bot.lifecycle.notify import remind
from bot.lifecycle.outbox import deliver, store_line
from bot.lifecycle.vocabulary import CLOSED, EventKind, TimerKind
from bot.messages import OutboundMessage
from bot.phrases import satisfaction_label
from bot.prompting import customer_address
from compliance.calendar import as_aware
from scripts_library import ScriptKey
from storage.models import Customer, Engineer, Message, Ticket

LOW_SATISFACTION = "low_satisfaction"
LOW_SATISFACTION_REASON = "low_satisfaction_reason"


def schedule_survey(desk: Desk, session: AsyncSession, ticket: Ticket, asked: datetime) -> None:
    """The survey is owed `survey_after_s` of attended time after the suggestion question."""
    due = desk.clock.deadline_after(asked, desk.policy.satisfaction.survey_after_s, ticket.channel)
    timers.schedule(session, TimerKind.SURVEY_DUE, due, ticket_id=ticket.id)


def awaiting_reason(desk: Desk, state: TicketState) -> bool:
    """A low rating whose reason the customer has not given yet."""
    return state.rating in desk.policy.satisfaction.low_ratings and not state.rating_reason


def reasons_in(desk: Desk, text: str) -> list[str]:
    """Seed 003's reasons the customer's line names, in the form's order."""
    return [r for r in desk.policy.satisfaction.low_rating_reasons if r in text]


async def read_rating(
    desk: Desk,
    session: AsyncSession,
    ticket: Ticket,
    state: TicketState,
    engineer: Engineer | None,
    message: Message,
    address: str,
    now: datetime,
) -> tuple[bool, list[OutboundMessage]]:
    """The customer's line read as a rating or its reason: (taken care of, replies)."""
    satisfaction = desk.policy.satisfaction
    replies: list[OutboundMessage] = []

    async def say(key: ScriptKey, line_address: str = address) -> None:
        if engineer is None:
            return
        if key is ScriptKey.REVIEW_INVITATION:
            line = desk.prompter.review_invitation(ticket.channel, line_address)
        elif key is ScriptKey.SATISFACTION_REASON:
            line = desk.prompter.satisfaction_reason(ticket.channel, line_address)
        else:
            line = desk.prompter.fixed(key, ticket.channel)
        replies.append(
            await store_line(session, ticket, engineer, line, now, in_reply_to=message.id)
        )

    if state.survey_sent and state.rating is None:
        label = satisfaction_label(message.text, desk.rating_labels)
        if label is None:
            return False, []
        record(
            session,
            ticket,
            EventKind.SATISFACTION_RATED,
            now,
            actor=message.sender,
            data={
                "rating": label,
                "points": desk.policy.satisfaction_points(label),
                "message_id": message.id,
                "after_close": ticket.status is CLOSED,
            },
        )
        await say(ScriptKey.THANKS)
        if label in satisfaction.review_ratings:
            await say(ScriptKey.REVIEW_INVITATION)
            record(session, ticket, EventKind.REVIEW_INVITED, now, data={"rating": label})
        elif label in satisfaction.low_ratings:
            await say(ScriptKey.SATISFACTION_REASON)
            managers = await roster_managers(session)
            remind(session, ticket, now, managers, LOW_SATISFACTION, rating=label)
        return True, replies
    if awaiting_reason(desk, state):
        reasons = reasons_in(desk, message.text)
        if ticket.status is CLOSED and not reasons:
            return False, []  # a closed ticket takes only the reason itself
        record(
            session,
            ticket,
            EventKind.SATISFACTION_REASON,
            now,
            actor=message.sender,
            data={"rating": state.rating, "reasons": reasons, "text": message.text},
        )
        managers = await roster_managers(session)
        remind(
            session,
            ticket,
            now,
            managers,
            LOW_SATISFACTION_REASON,
            rating=state.rating,
            reasons=reasons,
        )
        # Seed 000 沟通标准 8: the reason is the customer's advice (and often a complaint).
        await say(ScriptKey.COMPLAINT_RESPONSE)
        return True, replies
    return False, []


async def closed_awaiting(
    desk: Desk, session: AsyncSession, customer: Customer, text: str, now: datetime
) -> tuple[Ticket, TicketState] | None:
    """The customer's last closed ticket, when `text` is the rating (or its reason) it
    still waits for and it closed within ``late_rating_days``."""
    window = timedelta(days=desk.policy.satisfaction.late_rating_days)
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer.id, Ticket.status == CLOSED)
        .order_by(Ticket.closed_at.desc(), Ticket.id.desc())
        .limit(1)
    )
    if desk.lock_rows:
        query = query.with_for_update()
    ticket = (await session.execute(query)).scalar_one_or_none()
    if ticket is None or ticket.closed_at is None or now - as_aware(ticket.closed_at) > window:
        return None
    state = await state_of(session, ticket.id)
    if state.survey_sent and state.rating is None:
        if satisfaction_label(text, desk.rating_labels) is None:
            return None
        return ticket, state
    if awaiting_reason(desk, state) and reasons_in(desk, text):
        return ticket, state
    return None


class SurveyDeadlines:
    """The ``survey_due`` timer: the suggestion question went unanswered."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def handlers(self) -> dict[str, timers.TimerHandler]:
        return {TimerKind.SURVEY_DUE: self.survey_due}

    async def survey_due(
        self, session: AsyncSession, timer: timers.DueTimer, now: datetime
    ) -> str | timers.AfterCommit:
        loaded = await load_ticket(self.desk, session, ticket_id=timer.ticket_id)
        ticket, engineer = loaded.ticket, loaded.engineer
        state = await state_of(session, ticket.id)
        if state.survey_sent or state.suggestion_answered or engineer is None:
            return "nothing to do"
        if loaded.customer.anonymised_at is not None:
            return "customer forgotten"  # nobody to ask any more
        address = customer_address(loaded.customer.surname, loaded.customer.title)
        survey = self.desk.prompter.satisfaction_survey(ticket.channel, address)
        line = await store_line(session, ticket, engineer, survey, now)
        desk = self.desk

        async def send() -> None:
            await deliver(desk, line)

        return timers.AfterCommit("survey sent", send)
