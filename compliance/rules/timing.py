"""SLA — time limits (seed 000 响应速度, 方案时效, 进度追踪).

Every duration is attended time on the session's channel (`AttendedClock`): chat
channels 09:30–18:00 every day, the 400 line around the clock; a message outside
attended hours starts its clock at the next opening.  Whether the working-day or
the rest-day limit applies is decided by the calendar day on which the clock starts.
A limit is only judged when the transcript shows that it passed: a customer
message that is the last line of a transcript has not waited too long yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from compliance.model import Finding, Line, Session
from compliance.rules.base import Rule
from compliance.rules.facts import SessionFacts
from compliance.rules.levels import LevelLimit, level_limit
from scripts_library import cn_date

if TYPE_CHECKING:
    from compliance.context import CheckContext


def duration(seconds: float) -> str:
    """Seconds as a reader says them: 45秒, 2分10秒, 4小时5分."""
    total = round(seconds)
    if total < 60:
        return f"{total}秒"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes}分{secs}秒" if secs else f"{minutes}分钟"
    hours, rest = divmod(total, 3600)
    minutes = rest // 60
    return f"{hours}小时{minutes}分" if minutes else f"{hours}小时"


def _day_kind(working: bool) -> str:
    return "工作日" if working else "休息日"


def _clock(ctx: CheckContext, ts: datetime, channel: str) -> tuple[datetime, bool]:
    """When the clock starts for `ts`, and whether that day is a working day."""
    start = ctx.clock.clock_start(ts, channel)
    return start, ctx.calendar.is_working_day(start.date())


def _late_reply(
    rule: Rule,
    session: Session,
    ctx: CheckContext,
    facts: SessionFacts,
    waiting: Line,
    reply: Line | None,
    what: str,
    by_level: LevelLimit | None = None,
) -> Finding | None:
    channel = waiting.channel
    end = reply.ts if reply is not None else facts.lines[-1].ts
    shortest = ctx.shortest_response[channel]
    if by_level is not None:
        shortest = min(shortest, timedelta(seconds=by_level.seconds))
    if end - waiting.ts <= shortest:
        return None  # attended time never exceeds wall-clock time: in time either way
    start, working = _clock(ctx, waiting.ts, channel)
    limit = ctx.policy.response_limit_s(channel, working)
    limit_name = f"{_day_kind(working)}限时"
    if by_level is not None:
        limit, limit_name = by_level.seconds, f"{by_level.name}响应时限"
    if reply is not None:
        waited = ctx.clock.attended_seconds_between(waiting.ts, reply.ts, channel)
        if waited <= limit:
            return None
        outcome = f"{reply.ts.astimezone(start.tzinfo):%H:%M:%S}才回复，等待{duration(waited)}"
        agent = reply.sender
    else:
        last = facts.lines[-1]
        waited = ctx.clock.attended_seconds_between(waiting.ts, last.ts, channel)
        if waited <= limit:
            return None
        outcome = f"到会话最后一条（第{last.index + 1}条）仍未回复，已等待{duration(waited)}"
        agent = facts.responsible_agent(waiting)
    late_start = "" if start == waiting.ts else f"（非服务时段，计时从{start:%m-%d %H:%M}开始）"
    note = by_level.note if by_level is not None else ""
    return rule.finding(
        session,
        f"{what}{outcome}{late_start}，超过{limit_name}{duration(limit)}{note}",
        line=waiting,
        agent=agent,
        evidence=waiting.text,
        score=round(waited, 1),
        inferred=by_level.inferred if by_level is not None else False,
    )


class FirstResponse(Rule):
    """The session's first customer message must be answered within the response limit.

    Seed 000 【售后受理标准】2: “400电话响应标准：……接通时间为15秒内。（休息日30秒内）”；
    “朴赛售后官方微信号信息响应标准：1分钟内回复客户信息。（休息日5分钟内）”

    Limits per channel from the policy (``[channels.X] response_working_s`` /
    ``response_rest_s``): chat 60 s / 300 s, phone 15 s / 30 s, of attended time.
    The finding is on the customer message; ts is its time.

    In a profile with fault levels (``sla.response_by_fault_level``, seed 002 1.1.7
    支持响应时间表: “一级故障……小于30分钟 … 三级故障……小于2小时 … 其它问题……小于6小时”)
    the limit is the level's ``response_s`` instead, in that profile's attended
    hours.  The level is the ``ticket_opened`` line's ``fault_level``; without one
    the bot's classifier reads the first customer message, and the finding says
    it inferred the level (推断).

    Fails (Monday 2026-11-23, wechat)::

        09:31:00 customer: 服务器开不了机了
        09:32:30 agent 1818: 您好，我是朴赛售后服务中心运维工程师张三……

    Passes (Saturday 2026-11-21 08:50, a working day; the clock starts 09:30)::

        08:50:00 customer: 服务器开不了机了
        09:30:40 agent 1818: 您好，我是朴赛售后服务中心运维工程师张三……

    Options: none.
    """

    code = "SLA001"
    name = "first-response"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        first = facts.first_customer_line
        if first is None:
            return
        reply = next(
            (line for line in facts.speech if line.role == "agent" and line.index > first.index),
            None,
        )
        by_level = level_limit(facts, ctx, first)
        finding = _late_reply(self, session, ctx, facts, first, reply, "客户首条消息", by_level)
        if finding is not None:
            yield finding


class ReplyTimeout(Rule):
    """Every later customer message that needs an answer must get one within the same limit.

    Seed 000 【售后受理标准】2: “朴赛远程受理平台沟通响应标准（京麦、千牛等）：1分钟内回复客户信息。
    （休息日5分钟内）”

    The clock starts at the first message of a customer run (after the agent spoke)
    that is not only an acknowledgement (好的, 嗯, 收到, 谢谢, OK, an emoji …; policy
    ``phrases.ack_only``) and stops at the agent's next message.

    Fails (Monday 2026-11-23)::

        10:00:00 agent 1818: 请您把报错截图发我
        10:01:00 customer: 截图发您了
        10:03:00 agent 1818: 收到，我看一下

    Passes::

        10:00:00 agent 1818: 请您把报错截图发我
        10:01:00 customer: 好的
        10:05:00 customer: 截图发您了
        10:05:40 agent 1818: 收到，我看一下

    Options: none.
    """

    code = "SLA002"
    name = "reply-timeout"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        first = facts.first_customer_line
        first_index = first.index if first is not None else -1
        blocks = facts.blocks
        last = len(blocks) - 1
        shortest = ctx.shortest_response
        # Runs once per customer block of every session: the block's lines are
        # read directly rather than through Block.first / Block.last.
        for number, block in enumerate(blocks):
            if block.role != "customer":
                continue
            lines = block.lines
            opening = lines[0]
            if opening.index <= first_index <= lines[-1].index:
                continue  # the block of the first customer message is SLA001's
            reply = blocks[number + 1].lines[0] if number < last else None
            channel = opening.channel
            end = reply.ts if reply is not None else facts.lines[-1].ts
            if end - opening.ts <= shortest[channel] and (
                len(lines) == 1 or all(line.channel == channel for line in lines)
            ):
                # Answered in time counting from the block's first message, so from
                # any of them: which one needs an answer does not matter.
                continue
            waiting = next((line for line in lines if not facts.is_ack_only(line)), None)
            if waiting is None:
                continue
            finding = _late_reply(
                self, session, ctx, facts, waiting, reply, f"客户第{waiting.index + 1}条消息"
            )
            if finding is not None:
                yield finding


def _cycles(facts: SessionFacts) -> list[list[Line]]:
    """Events split into ticket cycles, each starting at a ``ticket_opened``."""
    if not facts.has_events:
        return []  # most chat transcripts: nothing to walk
    cycles: list[list[Line]] = [[]]
    for line in facts.lines:
        if line.role != "event":
            continue
        if line.event == "ticket_opened" and cycles[-1]:
            cycles.append([])
        cycles[-1].append(line)
    return [cycle for cycle in cycles if cycle]


def _first(cycle: list[Line], event: str, after: Line | None = None) -> Line | None:
    return next(
        (e for e in cycle if e.event == event and (after is None or e.index > after.index)), None
    )


class AcceptTimeout(Rule):
    """A ticket must be accepted within 5 minutes of opening (30 on a rest day).

    Seed 000 【售后受理标准】2.4: “工程师工单响应标准：5分钟内受理售后运维工单。（自系统开单后起算；
    休息日30分钟内）”

    From the ``ticket_opened`` event to the ``ticket_accepted`` event, in attended
    time; limits from the policy (``sla.accept_working_s`` / ``accept_rest_s``).
    Transcripts without events have nothing to judge.  The finding is on the
    ``ticket_opened`` line.

    Fails (Monday 2026-11-23)::

        10:00:00 event ticket_opened
        10:07:00 event ticket_accepted (1818)

    Passes (Sunday 2026-11-22, a rest day: 30 minutes)::

        10:00:00 event ticket_opened
        10:20:00 event ticket_accepted (1818)

    Options: none.
    """

    code = "SLA003"
    name = "accept-timeout"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        for cycle in _cycles(facts):
            opened = _first(cycle, "ticket_opened")
            if opened is None:
                continue
            accepted = _first(cycle, "ticket_accepted", opened)
            channel = opened.channel
            end = accepted.ts if accepted is not None else facts.lines[-1].ts
            shortest = min(ctx.policy.accept_limit_s(True), ctx.policy.accept_limit_s(False))
            if (end - opened.ts).total_seconds() <= shortest:
                continue  # attended time never exceeds wall-clock time
            _start, working = _clock(ctx, opened.ts, channel)
            limit = ctx.policy.accept_limit_s(working)
            waited = ctx.clock.attended_seconds_between(opened.ts, end, channel)
            if waited <= limit:
                continue
            if accepted is not None:
                outcome = f"{duration(waited)}后才受理"
            else:
                outcome = f"到会话最后一条仍未受理（已过{duration(waited)}）"
            yield self.finding(
                session,
                f"工单开立后{outcome}，超过{_day_kind(working)}限时{duration(limit)}",
                line=opened,
                agent=accepted.sender if accepted is not None else None,
                score=round(waited, 1),
            )


@dataclass(frozen=True, slots=True)
class SolutionOptions:
    escalation_grace_s: int = 1800


class SolutionTimeout(Rule):
    """A plan must be given within 4 h of acceptance, or 8 h with the one extension, else escalated.

    Seed 000 【售后过程标准】1.3: “a. 自响应受理后4H内给出解决方案并同步告知客户 b. 自响应受理后4H内
    无法给出解决方案应由管理人员主动沟通客户……争取客户延长方案形成时间（仅支持一次延长，时间为4H）
    c. 超出一次延长时限仍无法给出解决方案应由管理人员迅速沟通及寻求技术部技术支持。”

    From ``ticket_accepted``: a ``solution_given`` within ``sla.solution_s`` of
    attended time; otherwise an ``extension_granted`` inside that window adds
    ``sla.extension_s`` (at most ``sla.max_extensions`` times); past the last
    deadline an ``escalated`` event must come within ``escalation_grace_s``.  The
    finding is on the ``ticket_accepted`` line.

    Fails (Monday 2026-11-23)::

        09:40 event ticket_accepted (1818)
        15:00 event solution_given (1818)

    Passes::

        09:40 event ticket_accepted (1818)
        13:00 event extension_granted (9001)
        15:00 event solution_given (1818)

    Options:
        escalation_grace_s: attended seconds after the extended deadline within which
        the ``escalated`` event must come (seed: 迅速).
    """

    code = "SLA004"
    name = "solution-timeout"
    Options = SolutionOptions

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        last_ts = facts.lines[-1].ts
        sla = ctx.policy.sla
        for cycle in _cycles(facts):
            accepted = _first(cycle, "ticket_accepted")
            if accepted is None:
                continue
            channel = accepted.channel
            solution = _first(cycle, "solution_given", accepted)
            deadline = ctx.clock.deadline_after(accepted.ts, sla.solution_s, channel)
            extensions = [
                e for e in cycle if e.event == "extension_granted" and e.index > accepted.index
            ]
            used = 0
            while solution is None or solution.ts > deadline:
                extension = next((e for e in extensions if e.ts <= deadline), None)
                if extension is None or used >= sla.max_extensions:
                    break
                extensions.remove(extension)
                used += 1
                deadline = ctx.clock.deadline_after(deadline, sla.extension_s, channel)
            if solution is not None and solution.ts <= deadline:
                continue
            seen_until = solution.ts if solution is not None else last_ts
            limit = duration(sla.solution_s + used * sla.extension_s)
            if used == 0:
                if seen_until <= deadline:
                    continue  # the transcript ends before the limit passes
                message = f"受理后{limit}内没有给出解决方案，也没有申请延长方案时间"
            else:
                grace_end = ctx.clock.deadline_after(
                    deadline, self.options.escalation_grace_s, channel
                )
                escalated = next(
                    (
                        e
                        for e in cycle
                        if e.event == "escalated" and e.index > accepted.index and e.ts <= grace_end
                    ),
                    None,
                )
                if escalated is not None or seen_until <= grace_end:
                    continue
                message = f"延长后受理{limit}内仍没有给出解决方案，也没有升级寻求技术部支持"
            yield self.finding(
                session,
                message,
                line=accepted,
                agent=accepted.sender,
            )


class ProgressUpdateMissing(Rule):
    """A ticket open after 3 working days needs an agent message on working day 4; after 6, day 7.

    Seed 000 【售后过程标准】2.1: “a. 超过3个工作日无法完成交付的售后工单须在第4个工作日
    主动沟通客户并同步当前运维的受理情况及处理进度。 b. 超过6个工作日无法完成交付的售后
    工单须在第7个工作日再次主动沟通客户……”

    Day 1 is the day the ticket opened (``ticket_opened``; without events, the first
    line, and the finding says 推断), or the next working day when it opened on a
    rest day; the days are ``sla.progress_update_days``.  A ticket ``resolved`` or
    ``closed`` before the end of day N needs no update on day N, and a transcript
    that ends on or before day N has nothing to judge.  The finding has no line
    (index null); its ts is the start of day N.

    Fails (opened Monday 2026-11-23; day 4 is Thursday 11-26)::

        11-23 10:00 event ticket_opened
        11-25 10:00 agent 1818: 还在排查
        11-28 10:00 agent 1818: 进度同步……

    Passes::

        11-23 10:00 event ticket_opened
        11-26 10:00 agent 1818: 跟您同步一下工单当前的受理情况和处理进度……
        11-28 10:00 agent 1818: 还在等原厂配件

    Options: none.
    """

    code = "SLA005"
    name = "progress-update-missing"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        calendar = ctx.calendar
        inferred = not facts.has_events
        if inferred:
            opened_line: Line | None = facts.lines[0]
            ends = [occurrence.line for occurrence in facts.resolutions()]
        else:
            opened_line = next(iter(facts.events("ticket_opened")), None)
            ends = facts.events("resolved", "closed")
        if opened_line is None:
            return
        opened_day = facts.local_date(opened_line.ts)
        last_day = facts.local_date(facts.lines[-1].ts)
        first_update = min(ctx.policy.sla.progress_update_days, default=0)
        if first_update < 1 or (last_day - opened_day).days < first_update - 1:
            return  # the transcript cannot reach working day N (most sessions)
        day_one = calendar.next_working_day(opened_day)
        end_day = facts.local_date(ends[0].ts) if ends else None
        agent_days = {facts.local_date(line.ts) for line in facts.speech if line.role == "agent"}
        for number in ctx.policy.sla.progress_update_days:
            day = calendar.add_working_days(day_one, number - 1)
            if last_day <= day or (end_day is not None and end_day <= day):
                continue
            if day in agent_days:
                continue
            before = [line for line in facts.speech if facts.local_date(line.ts) < day]
            note = "（推断：会话没有工单事件，以首条消息为开单时间）" if inferred else ""
            yield self.finding(
                session,
                f"工单开立于{cn_date(opened_day)}，超过{number - 1}个工作日仍未交付，"
                f"第{number}个工作日{cn_date(day)}客服没有主动同步处理进度{note}",
                ts=datetime.combine(day, time(0, 0), calendar.tz),
                agent=facts.responsible_agent(before[-1] if before else None),
                inferred=inferred,
            )
