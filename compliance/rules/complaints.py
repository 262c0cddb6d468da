"""SLA — a complaint's clocks (seed 002 1.1.2 投诉受理服务).

A complaint is a ``complaint_opened`` event (the bot records one when the customer
complains, an engineer when a complaint comes by phone), ended by the next
``complaint_resolved``.  A session without any ``complaint_opened`` line is read
for a complaint cue (``complaints.cues``: 投诉, 差评 …) in customer messages: the
first such message opens an inferred complaint, and the findings say so (推断).

Both rules only judge a profile that sets the limit (``[complaints]
first_reply_s`` / ``resolve_days``: the seed-002 profile; the 朴赛 standard sets
none), and, as every SLA rule, only once the transcript shows the limit passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from compliance.model import Finding, Line, Session
from compliance.rules.base import Rule
from compliance.rules.facts import SessionFacts
from compliance.rules.timing import duration

if TYPE_CHECKING:
    from compliance.context import CheckContext

_INFERRED = "（转录中没有 complaint_opened 事件，按客户消息中的投诉用语推断）"


@dataclass(frozen=True, slots=True)
class Complaint:
    """One complaint: the line that opened it, the line that resolved it (or None)."""

    opened: Line
    resolved: Line | None
    inferred: bool
    cue: str | None = None


def complaints(facts: SessionFacts, ctx: CheckContext) -> list[Complaint]:
    """The session's complaints, from events, or inferred from the customer's words."""
    opened = facts.events("complaint_opened")
    if opened:
        closings = facts.events("complaint_resolved")
        found: list[Complaint] = []
        for line in opened:
            end = next((c for c in closings if c.index > line.index), None)
            found.append(Complaint(line, end, False))
        return found
    cues = [(cue, ctx.folder.fold(cue)) for cue in ctx.policy.complaints.cues if cue.strip()]
    for line in facts.speech:
        if line.role != "customer":
            continue
        folded = facts.folded(line)
        cue = next((cue for cue, needle in cues if needle and needle in folded), None)
        if cue is None:
            continue
        closings = facts.events("complaint_resolved") or [
            occurrence.line for occurrence in facts.resolutions()
        ]
        end = next((c for c in closings if c.index > line.index), None)
        return [Complaint(line, end, True, cue)]
    return []


class ComplaintReplyTimeout(Rule):
    """A complaint must get its first reply within the profile's limit (seed 002: 2 hours).

    Seed 002 1.1.2 投诉受理服务 服务承诺: “客户投诉的响应时间(从受理客户投诉到向客户初次回复处理
    意见的时间) 为2小时”

    From the ``complaint_opened`` line (or the customer message with a complaint cue,
    inferred) to the agent's next message, in the channel's attended time (7×24 in
    the seed-002 profile); the limit is ``complaints.first_reply_s``.  The finding is
    on the line that opened the complaint.

    Fails (seed-002 profile)::

        10:00 customer: 我要投诉你们，三天了都没人处理
        10:00 event complaint_opened
        12:30 agent 1818: 张总，非常抱歉，处理意见如下……

    Passes::

        10:00 event complaint_opened
        11:10 agent 1818: 张总，非常抱歉，处理意见如下……

    Options: none.
    """

    code = "SLA006"
    name = "complaint-reply-timeout"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        limit = ctx.policy.complaints.first_reply_s
        if limit is None:
            return
        for complaint in complaints(facts, ctx):
            opened = complaint.opened
            reply = next(
                (
                    line
                    for line in facts.speech
                    if line.role == "agent" and line.index > opened.index
                ),
                None,
            )
            end = reply.ts if reply is not None else facts.lines[-1].ts
            if (end - opened.ts).total_seconds() <= limit:
                continue  # attended time never exceeds wall-clock time
            waited = ctx.clock.attended_seconds_between(opened.ts, end, opened.channel)
            if waited <= limit:
                continue
            if reply is not None:
                outcome = f"{duration(waited)}后才初次回复"
                agent = reply.sender
            else:
                outcome = f"到会话最后一条仍未回复（已过{duration(waited)}）"
                agent = facts.responsible_agent(opened)
            note = _INFERRED if complaint.inferred else ""
            yield self.finding(
                session,
                f"客户投诉{outcome}，超过投诉响应时限{duration(limit)}{note}",
                line=opened,
                agent=agent,
                evidence=opened.text,
                score=round(waited, 1),
                inferred=complaint.inferred,
            )


class ComplaintResolutionTimeout(Rule):
    """A complaint must be resolved within the profile's limit (seed 002: half a month).

    Seed 002 1.1.2 投诉受理服务 服务承诺: “客户投诉处理时间(从受理客户投诉到问题得到解决并让客户
    满意的时间) 为半个月”

    From the ``complaint_opened`` line to the next ``complaint_resolved`` within
    ``complaints.resolve_days`` calendar days (15).  An inferred complaint (no
    ``complaint_opened`` in the session) ends at a ``complaint_resolved`` event or at
    the resolution read from the text.  The finding is on the line that opened the
    complaint; a transcript that ends before the limit has nothing to judge.

    Fails (seed-002 profile)::

        11-02 10:00 event complaint_opened
        11-20 10:00 event complaint_resolved (9001)

    Passes::

        11-02 10:00 event complaint_opened
        11-12 10:00 event complaint_resolved (9001)

    Options: none.
    """

    code = "SLA007"
    name = "complaint-resolution-timeout"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        days = ctx.policy.complaints.resolve_days
        if days is None:
            return
        last_ts = facts.lines[-1].ts
        for complaint in complaints(facts, ctx):
            opened = complaint.opened
            deadline = opened.ts + timedelta(days=days)
            resolved = complaint.resolved
            if resolved is not None and resolved.ts <= deadline:
                continue
            if (resolved.ts if resolved is not None else last_ts) <= deadline:
                continue  # the transcript ends before the limit passes
            if resolved is not None:
                took = resolved.ts - opened.ts
                outcome = f"{took.days}天{took.seconds // 3600}小时后才处理完毕"
                agent = resolved.sender if resolved.role != "customer" else None
            else:
                outcome = "到会话最后一条仍未处理完毕"
                agent = facts.responsible_agent(opened)
            note = _INFERRED if complaint.inferred else ""
            yield self.finding(
                session,
                f"客户投诉{outcome}，超过投诉处理时限{days}天{note}",
                line=opened,
                agent=agent or facts.responsible_agent(opened),
                evidence=opened.text,
                inferred=complaint.inferred,
            )
