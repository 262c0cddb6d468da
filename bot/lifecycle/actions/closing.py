"""Delivery and closing: stable running, the resolution, closing, the knowledge base.

Delivery waits for 24 h of stable running (72 h for an intermittent fault) — unless a
manager waived it — and for the 上门 / 在司 lists the ticket owes
(`bot.lifecycle.delivery.resolve_blocker`).
Resolving says the thanks and responsibility lines (SCR004/5), then asks for
suggestions once (never twice, SCR006) or sends the satisfaction survey.
Closing is refused while the customer's last message is unanswered (LNG004)
and without the solution record (process, attachments, test report:
`bot.lifecycle.knowledge`); the solution is then due in the knowledge base
within 2 working days, unless it duplicates one filed already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.delivery import resolve_blocker
from bot.lifecycle.knowledge import archive_record, archived_original, record_of, write_record
from bot.lifecycle.satisfaction import schedule_survey
from bot.lifecycle.vocabulary import (
    ACCEPTED,
    CLOSED,
    IN_PROGRESS,
    OPEN_TICKET_TIMERS,
    RESOLVED,
    WORKERS,
    WORKING,
    EventKind,
    TimerKind,
)
from bot.phrases import satisfaction_label
from scripts_library import ScriptKey
from storage.models import Message, MessageRole

CLOSABLE = (ACCEPTED, IN_PROGRESS, RESOLVED)


@dataclass(frozen=True, slots=True)
class StableRunBody:
    # Left out: what the ticket already says (classified from the first message).
    intermittent: bool | None = given("间歇性故障（观察 72 小时）", default=None)


async def start_stable_run(ctx: ActionContext, body: StableRunBody) -> Outcome:
    """The fix is in; delivery waits for 24 h of stable running (72 h if intermittent)."""
    ticket, sla = ctx.ticket, ctx.desk.policy.sla
    if body.intermittent is not None:
        ticket.intermittent_fault = body.intermittent
    hours = sla.intermittent_stable_run_h if ticket.intermittent_fault else sla.stable_run_h
    # Servers run around the clock: wall-clock hours, not attended time.
    until = ctx.now + timedelta(hours=hours)
    data = {"until": until.isoformat(), "hours": hours, "intermittent": ticket.intermittent_fault}
    ctx.record(EventKind.STABLE_RUN_STARTED, data=data)
    ctx.start_working()
    await timers.cancel(ctx.session, ticket.id, (TimerKind.STABLE_RUN,))
    timers.schedule(ctx.session, TimerKind.STABLE_RUN, until, ticket_id=ticket.id)
    return Outcome(
        (EventKind.STABLE_RUN_STARTED,), {"stable_until": until.isoformat(), "hours": hours}
    )


@dataclass(frozen=True, slots=True)
class ResolveBody:
    ask_suggestion: bool = given("征求客户建议", default=True)


async def resolve(ctx: ActionContext, body: ResolveBody) -> Outcome:
    """The problem is solved: `resolved`, thanks and responsibility, then one suggestion
    request — or, without it, the satisfaction survey."""
    ticket, now, prompter = ctx.ticket, ctx.now, ctx.desk.prompter
    state = await ctx.state()
    blocker = await resolve_blocker(ctx.session, ctx.desk.policy, ticket, state, now)
    if blocker is not None:
        raise TicketError("conflict", blocker.code, blocker.message, **blocker.details)
    events: list[EventKind] = []
    if not state.solution_given:
        # The fix is the plan: a ticket resolved without a separate plan
        # still gave its solution (SLA004 reads solution_given).
        ctx.record(
            EventKind.SOLUTION_GIVEN, data={"summary": ticket.summary, "implied_by": "resolved"}
        )
        events.append(EventKind.SOLUTION_GIVEN)
    ticket.status = RESOLVED
    ctx.record(EventKind.RESOLVED)
    events.append(EventKind.RESOLVED)
    await timers.cancel(
        ctx.session,
        ticket.id,
        (
            TimerKind.SOLUTION_WARNING,
            TimerKind.SOLUTION_DUE,
            TimerKind.EXTENSION_DUE,
            TimerKind.PROGRESS,
        ),
    )
    for line in prompter.closing_lines(ticket.channel):
        await ctx.say(line)
    if body.ask_suggestion and not state.suggestion_requested:
        await ctx.say(prompter.fixed(ScriptKey.SUGGESTION_REQUEST, ticket.channel))
        events.append(EventKind.SUGGESTION_REQUESTED)
        # Unanswered, the question must not hold the survey back for ever.
        schedule_survey(ctx.desk, ctx.session, ticket, now)
    elif not state.survey_sent:
        await ctx.say(prompter.satisfaction_survey(ticket.channel, ctx.address))
        events.append(EventKind.SURVEY_SENT)
    return Outcome(tuple(events))


@dataclass(frozen=True, slots=True)
class CloseBody:
    # The solution record (seed 000 1.6): refused without process or test report
    # (`knowledge.write_record` names the missing field, in words the console shows).
    process: str | None = given("处理过程（必填）", default=None)
    test_report: str | None = given("测试报告（必填）", default=None)
    attachments: str | None = given("附件（文件名或聊天第N条，每行一项）", default=None)
    summary: str | None = given("处理总结", default=None)


async def close(ctx: ActionContext, body: CloseBody) -> Outcome:
    """Close the ticket (`closed`) with its solution record; the knowledge-base archive
    is due within 2 working days."""
    desk, ticket, now = ctx.desk, ctx.ticket, ctx.now
    last = (
        await ctx.session.execute(
            select(Message)
            .where(Message.ticket_id == ticket.id)
            .order_by(Message.sent_at.desc(), Message.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    state = await ctx.state()
    waiting = (
        last is not None
        and last.role is MessageRole.CUSTOMER
        and not desk.is_ack_only(last.text)
        # The rating itself needs no answer beyond the bot's thanks.
        and not (
            state.rating is not None
            and satisfaction_label(last.text, desk.rating_labels) == state.rating
        )
    )
    if waiting:
        assert last is not None
        raise TicketError(
            "conflict",
            "customer_waiting",
            "客户的最后一条消息还没有回复，不能关闭工单",
            message_id=last.id,
        )
    await write_record(
        ctx.session,
        ticket,
        process=body.process,
        attachments=body.attachments,
        test_report=body.test_report,
        actor=ctx.actor.staff_no,
        now=now,
    )
    ticket.status = CLOSED
    if body.summary:
        ticket.summary = body.summary
    ctx.record(EventKind.CLOSED, data={"summary": body.summary})
    await timers.cancel(ctx.session, ticket.id, OPEN_TICKET_TIMERS)
    due_day = desk.calendar.add_working_days(
        desk.prompter.local_date(now), desk.policy.sla.archive_within_working_days
    )
    closes = desk.clock.hours(ticket.channel).closes or time(23, 59)
    due = datetime.combine(due_day, closes, desk.calendar.tz)
    timers.schedule(ctx.session, TimerKind.ARCHIVE, due, ticket_id=ticket.id)
    return Outcome((EventKind.CLOSED,), {"archive_due": due.isoformat()})


@dataclass(frozen=True, slots=True)
class ArchiveBody:
    problem: str | None = given("问题描述（工单无摘要时必填）", default=None)
    duplicate_of: str | None = given("与之重复的已归档工单号", default=None, max_len=64)
    # For a ticket closed without a record (before records were required).
    process: str | None = given("处理过程（无解决记录时填写）", default=None)
    test_report: str | None = given("测试报告（无解决记录时填写）", default=None)


async def archive(ctx: ActionContext, body: ArchiveBody) -> Outcome:
    """File the solution in the knowledge base, or link the duplicate to the archived
    ticket it repeats (not filed)."""
    ticket = ctx.ticket
    if (await ctx.state()).archived:
        raise TicketError("conflict", "already_archived", "工单已归档")
    original = (
        await archived_original(ctx.session, ticket, body.duplicate_of)
        if body.duplicate_of
        else None
    )
    record = await record_of(ctx.session, ticket.id)
    if body.process or body.test_report or (record is None and original is None):
        record = await write_record(
            ctx.session,
            ticket,
            process=body.process,
            attachments=None,
            test_report=body.test_report,
            actor=ctx.actor.staff_no,
            now=ctx.now,
        )
    if record is not None:
        await archive_record(
            ctx.session,
            ticket,
            problem=body.problem,
            duplicate_of=original,
            actor=ctx.actor.staff_no,
            now=ctx.now,
        )
    kind = EventKind.ARCHIVE_SKIPPED_DUPLICATE if original else EventKind.ARCHIVED
    ctx.record(kind, data={"duplicate_of": original.number if original else None})
    await timers.cancel(ctx.session, ticket.id, (TimerKind.ARCHIVE,))
    return Outcome((kind,), {"duplicate_of": original.number if original else None})


STABLE_RUN = Action(
    name="stable-run",
    title="开始稳定运行观察",
    verb="开始稳定运行观察",
    statuses=WORKING,
    roles=WORKERS,
    body=StableRunBody,
    records=(EventKind.STABLE_RUN_STARTED,),
    run=start_stable_run,
)
RESOLVE = Action(
    name="resolve",
    title="已解决",
    verb="结单（已解决）",
    statuses=WORKING,
    roles=WORKERS,
    body=ResolveBody,
    records=(
        EventKind.SOLUTION_GIVEN,
        EventKind.RESOLVED,
        EventKind.SUGGESTION_REQUESTED,
        EventKind.SURVEY_SENT,
    ),
    run=resolve,
)
CLOSE = Action(
    name="close",
    title="关闭工单",
    verb="关闭",
    # Not before it is accepted: a ticket nobody took is not closed, it is worked.
    statuses=CLOSABLE,
    roles=WORKERS,
    body=CloseBody,
    records=(EventKind.CLOSED,),
    run=close,
)
ARCHIVE = Action(
    name="archive",
    title="归档",
    verb="归档",
    statuses=(CLOSED,),
    roles=WORKERS,
    body=ArchiveBody,
    records=(EventKind.ARCHIVED, EventKind.ARCHIVE_SKIPPED_DUPLICATE),
    run=archive,
)
