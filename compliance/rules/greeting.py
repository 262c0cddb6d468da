"""SCR001 and SCR002 — the greeting (seed 000 【售后动作标准】 必须执行动作 · 线上 1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compliance.model import Finding, Line, Session
from compliance.rules.base import Rule
from compliance.rules.facts import SessionFacts
from scripts_library import (
    GreetingInputs,
    ScriptInputError,
    ScriptKey,
    render,
)

if TYPE_CHECKING:
    from compliance.context import CheckContext


def expected_names(session: Session, ctx: CheckContext, staff_no: str) -> tuple[str, ...]:
    """Names the engineer with `staff_no` goes by: the roster's, then the transcript's."""
    names: list[str] = []
    engineer = ctx.policy.engineer(staff_no)
    if engineer is not None:
        names.append(engineer.name)
    given = session.names.get(staff_no)
    if given and given not in names:
        names.append(given)
    return tuple(names)


def greeting_for(session: Session, ctx: CheckContext, staff_no: str | None) -> str | None:
    """The greeting the engineer should have sent, when we know their name."""
    if not staff_no:
        return None
    names = expected_names(session, ctx, staff_no)
    if not names:
        return None
    try:
        inputs = GreetingInputs(
            names[0],
            staff_no,
            centre=ctx.policy.company.centre,
            title=ctx.policy.company.engineer_title,
        )
        return render(ScriptKey.GREETING, inputs, session.channel)
    except (ScriptInputError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class GreetingOptions:
    each_engineer: bool = False


class GreetingMissing(Rule):
    """The session's first agent message must be the engineer's self-introduction.

    Seed 000 【售后动作标准】1.a.1: “自我介绍（必须在沟通开始时第一个信息“您好，我是朴赛售后服务中心
    运维工程师张三，工号1818，很高兴为您服务[握手表情]”）”

    The message must contain 您好, the centre, the title, a name, 工号 with the number
    and 很高兴为您服务 (fuzzily: punctuation, emoji and small rewordings do not
    matter; brackets, quotes, colons, exclamation marks and filler around the name
    and 工号 are tolerated, 工号：【1818】, while both are read exactly).  A complete
    self-introduction with the wrong name or 工号 is SCR002.

    Fails::

        customer: 服务器开不了机了
        agent 1818: 请问是什么型号的服务器？

    Passes::

        customer: 服务器开不了机了
        agent 1818: 您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]

    Options:
        each_engineer: also require a self-introduction as the first message of every
        other engineer who joins the session (a hand-over is a new reception).
    """

    code = "SCR001"
    name = "greeting-missing"
    Options = GreetingOptions

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        firsts: list[Line] = []
        seen: set[str | None] = set()
        for line in facts.speech:
            if line.role != "agent" or line.sender in seen:
                continue
            seen.add(line.sender)
            firsts.append(line)
            if not self.options.each_engineer:
                break
        for line in firsts:
            greeting = facts.greeting(line)
            if greeting is not None and greeting.is_self_introduction:
                continue
            missing: list[str] = []
            if greeting is None:
                detail = "不是自我介绍"
            else:
                missing = list(greeting.missing)
                if not greeting.name:
                    missing.append("姓名")
                if not greeting.staff_no:
                    missing.append("工号号码")
                detail = "不是完整的自我介绍"
            lacking = f"（缺少：{'、'.join(missing)}）" if missing else ""
            opener = (
                "会话中客服的第一条消息"
                if line is firsts[0]
                else f"工程师{line.sender}的第一条消息"
            )
            yield self.finding(
                session,
                f"{opener}{detail}{lacking}",
                line=line,
                agent=line.sender,
                evidence=line.text,
                score=greeting.score if greeting is not None else None,
                suggestion=greeting_for(session, ctx, line.sender),
            )


class GreetingIdentity(Rule):
    """A self-introduction must give the sending engineer's own name and 工号.

    Seed 000 【售后动作标准】1.a.1: “自我介绍（……“您好，我是朴赛售后服务中心运维工程师张三，
    工号1818，很高兴为您服务[握手表情]”）”

    The 工号 must equal the message's sender; the name must be the roster's name for
    that 工号 or the name the transcript gives the sender (when neither is known,
    only the 工号 is checked).  Both are compared exactly.

    Fails::

        agent 1818 (张三): 您好，我是朴赛售后服务中心运维工程师李四，工号2046，很高兴为您服务[握手]

    Passes::

        agent 1818 (张三): 您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]

    Options: none.
    """

    code = "SCR002"
    name = "greeting-identity"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        for line in facts.speech:
            # A self-introduction names the 工号; most messages are out at this test.
            if line.role != "agent" or ctx.greeting.staff_label not in facts.folded(line):
                continue
            greeting = facts.greeting(line)
            if greeting is None or greeting.name is None or greeting.staff_no is None:
                continue
            if greeting.score < ctx.greeting.cutoff:
                continue
            problems: list[str] = []
            span = None
            evidence = None
            if greeting.staff_no != line.sender:
                problems.append(f"工号“{greeting.staff_no}”不是发送人的工号“{line.sender}”")
                span, evidence = greeting.staff_span, greeting.staff_no
            names = expected_names(session, ctx, line.sender or "")
            if names and greeting.name not in names:
                problems.append(
                    f"姓名“{greeting.name}”与工号{line.sender}的工程师“{'”/“'.join(names)}”不符"
                )
                span, evidence = greeting.name_span, greeting.name
            if not problems:
                continue
            yield self.finding(
                session,
                "自我介绍的身份不对：" + "；".join(problems),
                line=line,
                agent=line.sender,
                evidence=evidence,
                span=span,
                score=greeting.score,
                suggestion=greeting_for(session, ctx, line.sender),
            )
