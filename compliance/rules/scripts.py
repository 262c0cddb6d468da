"""SCR003–SCR007 — the script lines after the greeting (seed 000 【售后动作标准】 必须执行动作).

The greeting itself (SCR001, SCR002) is `compliance.rules.greeting`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from compliance.matchers import CueHit, CueMatcher
from compliance.model import Finding, Line, Session
from compliance.normalize import TextFolder
from compliance.policy import Severity
from compliance.rules.base import Rule
from compliance.rules.facts import Block, Occurrence, SessionFacts
from scripts_library import (
    RestDayNoticeInputs,
    ScriptKey,
    cn_date,
    render,
)

if TYPE_CHECKING:
    from compliance.context import CheckContext


def _where(line: Line) -> str:
    return f"第{line.index + 1}条"


def _inferred_note(occurrence: Occurrence, what: str) -> str:
    if not occurrence.inferred:
        return f"{what}（{_where(occurrence.line)}）"
    said = f"“{occurrence.evidence}”" if occurrence.evidence else "消息内容"
    who = "客服" if occurrence.line.role == "agent" else "客户"
    return f"{what}（推断：会话没有工单事件，依据{who}在{_where(occurrence.line)}说的{said}）"


@dataclass(frozen=True, slots=True)
class BackupWarningOptions:
    """The backup warning in other words: one agent line with a word of each group
    (a backup, a request to confirm it, the risk of losing data)."""

    backup_words: tuple[str, ...] = ()
    confirm_words: tuple[str, ...] = ()
    risk_words: tuple[str, ...] = ()


class BackupWarningMissing(Rule):
    """Before the first remote login the agent must have asked the customer to confirm backups.

    Seed 000 【售后动作标准】1.a.2: “客户数据安全确认（必须在远程登录之前“请您确认下服务器内的数据
    是否均有备份，重点提示：运维和调试过程都有一定概率的数据丢失风险”）”

    The remote login is the ``remote_login`` event; a transcript without any events
    has it inferred from the agent asking for or announcing remote access (远程,
    向日葵, ToDesk, 识别码 …; policy ``phrases.remote_access``, and the
    ``[detectors.remote]`` layers: out-of-band management BMC/IPMI/iDRAC/iLO/KVM, an
    SSH/RDP/VNC login, screen sharing, credentials asked for, 我登录您的服务器), except
    where the text rules it out (远程解决不了, 无法远程, ``phrases.remote_negations``;
    不需要登录您的服务器 and other negations through the detector's grammar).  An
    inferred finding says 推断.

    Fails::

        agent 1818: 麻烦您打开向日葵，把识别码发给我，我远程看一下

    Passes::

        agent 1818: 请您确认下服务器内的数据是否均有备份，重点提示：运维和调试过程都有……
        customer: 已经备份了
        agent 1818: 好的，麻烦您打开向日葵，把识别码发给我，我远程看一下

    The warning also counts in other words: a line naming a backup, asking to confirm
    it and the risk of data loss (``[rules.SCR003] backup_words`` / ``confirm_words`` /
    ``risk_words``: 请您确认数据都已备份，调试过程有一定概率丢数据).

    Options:

    - backup_words: words naming a backup (备份).
    - confirm_words: words asking the customer to confirm it (确认, 是否).
    - risk_words: words naming the risk of losing data (风险, 丢失).
    """

    code = "SCR003"
    name = "backup-warning-missing"
    Options = BackupWarningOptions

    def _warns(self, line: Line, facts: SessionFacts, ctx: CheckContext) -> bool:
        if facts.says(line, ScriptKey.BACKUP_WARNING):
            return True
        options = self.options
        if line.role != "agent" or not line.text or not options.backup_words:
            return False
        folded = ctx.folder.fold(line.text)
        return all(
            any(ctx.folder.fold(word) in folded for word in group)
            for group in (options.backup_words, options.confirm_words, options.risk_words)
        )

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        logins = facts.remote_logins()
        if not logins:
            return
        login = logins[0]
        last = login.line.index if login.inferred else login.line.index - 1
        for line in facts.speech:
            if line.index > last:
                break
            if self._warns(line, facts, ctx):
                return
        yield self.finding(
            session,
            _inferred_note(login, "远程登录") + "之前没有请客户确认服务器数据是否已备份",
            line=login.line,
            agent=facts.responsible_agent(login.line),
            evidence=login.evidence,
            span=login.span,
            source="phrases.remote_access" if login.inferred else "event.remote_login",
            suggestion=ctx.required.canonical(ScriptKey.BACKUP_WARNING, session.channel),
            inferred=login.inferred,
        )


class _AfterResolution(Rule):
    """Shared by SCR004 / SCR005: a script line must follow the resolution."""

    line_key: ScriptKey
    what: str

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        resolutions = facts.resolutions()
        if not resolutions:
            return
        resolution = resolutions[0]
        for line in facts.agent_lines_from(resolution.line):
            if facts.says(line, self.line_key):
                return
        yield self.finding(
            session,
            _inferred_note(resolution, "问题已解决") + f"，之后客服没有说{self.what}",
            line=resolution.line,
            agent=facts.responsible_agent(resolution.line),
            evidence=resolution.evidence,
            span=resolution.span,
            source="phrases.resolution" if resolution.inferred else "event.resolved",
            suggestion=ctx.required.canonical(self.line_key, session.channel),
            inferred=resolution.inferred,
        )


class ThanksMissing(_AfterResolution):
    """Once the problem is resolved the agent must say the thanks line.

    Seed 000 【售后动作标准】1.a.3: “感谢语（必须在解决了客户的问题之后“感谢您对我们本次服务的理解和
    支持[鲜花表情]”）”

    Resolution is the ``resolved`` event; a transcript without any events has it
    inferred from the text (agent: 问题已解决 …; customer: 好了, 可以了 … but not
    as a question, and not next to 还是不行 …; policy ``phrases.resolution_*`` and
    the ``[detectors.resolution_*]`` layers), and the finding says 推断.  An engineer's
    report of a passing test or restored service in other words (压测跑了一晚上没有再
    报错) is a resolution once the customer's next message confirms it in any words
    (no question, no negation; ``phrases.affirmations``).  The thanks line may come in
    the agent turn in which the resolution happens, or any time later.

    Fails::

        customer: 好了，能开机了
        agent 1818: 好的，那我这边先结单了

    Passes::

        customer: 好了，能开机了
        agent 1818: 感谢您对我们本次服务的理解和支持[玫瑰]

    Options: none.
    """

    code = "SCR004"
    name = "thanks-missing"
    line_key = ScriptKey.THANKS
    what = "感谢语"


class ResponsibilityMissing(_AfterResolution):
    """Once the problem is resolved the agent must say the responsibility line.

    Seed 000 【售后动作标准】1.a.4: “责任语（必须在解决了客户问题之后“您在后期的服务器使用中遇到任何
    问题都可以随时联络我们，感谢您的配合，和您合作太愉快了[微笑表情]”）”

    Resolution is found as for SCR004 (event, or inferred and said so).

    Fails::

        agent 1818: 问题已经解决了，感谢您对我们本次服务的理解和支持[玫瑰]

    Passes::

        agent 1818: 问题已经解决了，感谢您对我们本次服务的理解和支持[玫瑰]
        agent 1818: 您在后期的服务器使用中遇到任何问题都可以随时联络我们，感谢您的配合……

    Options: none.
    """

    code = "SCR005"
    name = "responsibility-missing"
    line_key = ScriptKey.RESPONSIBILITY
    what = "责任语"


@dataclass(frozen=True, slots=True)
class SuggestionOptions:
    request_cues: tuple[str, ...] = (
        "建议或者意见",
        "建议或意见",
        "意见或建议",
        "意见或者建议",
        "有什么建议",
        "有什么意见",
        "有没有建议",
        "有没有意见",
        "其他建议",
        "其他意见",
    )


class SuggestionPressed(Rule):
    """After the customer declines to give suggestions, the agent must not ask again.

    Seed 000 【售后动作标准】2.a.1: “客户建议收集……“您对我们的服务器使用及售后服务有什么建议
    或者意见吗？……”。①如果客户说暂时没有那就不能持续追问”

    A request is the script line (fuzzy), a message with one of the ``request_cues``,
    or a hit of the ``[detectors.suggestion_request]`` layers (a renewed request in
    other words, or similarity to the script line);
    a decline is a customer reply with a ``phrases.suggestion_declined`` cue (暂时没有,
    没意见 …) or a hit of the ``[detectors.suggestion_declined]`` layers (a reply
    that opens with a negation or says there is nothing to add: 暂时想不到, 都挺好的).
    Every request after a decline is a finding.

    Fails::

        agent 1818: 您对我们的服务器使用及售后服务有什么建议或者意见吗？……[抱拳]
        customer: 暂时没有
        agent 1818: 您再想想，有什么建议都可以提

    Passes::

        agent 1818: 您对我们的服务器使用及售后服务有什么建议或者意见吗？……[抱拳]
        customer: 暂时没有
        agent 1818: 好的，感谢您的支持

    Options:
        request_cues: phrases that make an agent message a request for suggestions
        (besides the script line itself).
    """

    code = "SCR006"
    name = "suggestion-pressed"
    Options = SuggestionOptions
    # The request cues as a matcher on the run's folder (built on first use).
    _cues: tuple[TextFolder, CueMatcher] | None = None
    # Words one of which every request holds (built on first use): the request cues,
    # the script line's 建议 / 意见, and the anchors of the request detector.
    _feedback: tuple[CheckContext, re.Pattern[str]] | None = None

    def _may_request(self, facts: SessionFacts, line: Line, ctx: CheckContext) -> bool:
        if self._feedback is None or self._feedback[0] is not ctx:
            words = {ctx.folder.fold(w) for w in (*self.options.request_cues, "建议", "意见")}
            detector = ctx.detectors.get("suggestion_request")
            if detector is not None:
                words.update(detector.anchor_list.cues)
            words.discard("")
            pattern = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
            self._feedback = (ctx, re.compile(pattern or "(?!)"))
        return line.role == "agent" and self._feedback[1].search(facts.folded(line)) is not None

    def _is_request(self, facts: SessionFacts, line: Line, ctx: CheckContext) -> bool:
        if line.role != "agent" or not line.text:
            return False
        if self._cues is None or self._cues[0] is not ctx.folder:
            matcher = CueMatcher(self.options.request_cues, folder=ctx.folder)
            self._cues = (ctx.folder, matcher)
        if self._cues[1].matches(line.text, facts.folded(line)):
            return True
        if facts.says(line, ScriptKey.SUGGESTION_REQUEST):
            return True
        # A request in other words (operators, or similarity to the script line).
        detector = ctx.detectors.get("suggestion_request")
        return detector is not None and bool(detector.find(line.text, facts.folded(line)))

    @staticmethod
    def _decline(facts: SessionFacts, block: Block) -> tuple[Line, CueHit] | None:
        for line in block.lines:
            hit = facts.customer_cue(line, "suggestion_declined")
            if hit is not None:
                return line, hit
        return None

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        blocks = facts.blocks
        # Only a decline right after a request makes a later request a finding, and
        # requests are rare: every one holds a feedback word (建议, 意见 …), so only an
        # agent turn with one is asked whether it requests, and only the customer's
        # answer to a request is read for a decline (on demand: its detector is dear).
        for number, block in enumerate(blocks):
            if block.role != "customer" or number == 0:
                continue
            asked = blocks[number - 1]
            if not any(
                self._may_request(facts, line, ctx) and self._is_request(facts, line, ctx)
                for line in asked.lines
            ):
                continue
            cue = self._decline(facts, block)
            if cue is None:
                continue
            declined, decline = cue
            for block in blocks[number + 1 :]:
                if block.role != "agent":
                    continue
                for line in block.lines:
                    if self._is_request(facts, line, ctx):
                        yield self.finding(
                            session,
                            f"客户已在{_where(declined)}表示不提建议（“{decline.matched}”），"
                            "客服不应再追问建议或意见",
                            line=line,
                            agent=line.sender,
                            evidence=line.text,
                            source="phrases.suggestion_declined",
                        )
            return


class RestDayNoticeMissing(Rule):
    """On a rest day the agent's first turn must promise priority handling and a plan.

    Seed 000 【售后受理标准】2 ※: “休息日响应后告知客户工作日优先受理并给出解决方案，
    避免客户焦急等待”

    The day is that of the agent's first turn (the agent messages before the customer
    speaks again), by the calendar (朴赛: Monday–Saturday, statutory holidays off,
    调休 days on).  The turn complies when it says the rest-day notice line (fuzzy,
    rendered for the next working day) or contains every cue of
    ``phrases.rest_day_notice`` (工作日, 优先, 方案).

    Fails (Sunday 2026-11-22)::

        customer: 服务器开不了机了
        agent 1818: 您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]

    Passes (Sunday 2026-11-22)::

        customer: 服务器开不了机了
        agent 1818: 您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]
        agent 1818: 今天是休息日，您的问题我们已经记录，将在下一个工作日11月23日（周一）
                    优先受理并给出解决方案……

    Options: none.
    """

    code = "SCR007"
    name = "rest-day-notice-missing"

    def __init__(self, severity: Severity, options: Any = None) -> None:
        super().__init__(severity, options)
        self._notices: dict[tuple[date, str], str] = {}

    def _notice(self, day: date, channel: str) -> str:
        # Rendering a template costs more than the check; rest days are few.
        notice = self._notices.get((day, channel))
        if notice is None:
            notice = render(ScriptKey.REST_DAY_NOTICE, RestDayNoticeInputs(day), channel)
            self._notices[(day, channel)] = notice
        return notice

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        turn = next((block for block in facts.blocks if block.role == "agent"), None)
        if turn is None:
            return
        day = facts.local_date(turn.first.ts)
        if ctx.calendar.is_working_day(day):
            return
        next_day = ctx.calendar.next_working_day(day)
        said = "".join(facts.folded(line) for line in turn.lines)
        missing = [cue for cue in ctx.rest_day_cues if cue not in said]
        if not missing:
            return
        notice = self._notice(next_day, session.channel)
        if any(
            ctx.required.score_against(notice, line.text, facts.folded(line)) >= ctx.required.cutoff
            for line in turn.lines
        ):
            return
        yield self.finding(
            session,
            f"{cn_date(day)}是休息日，客服的第一轮回复没有告知客户将在下一个工作日"
            f"{cn_date(next_day)}优先受理并给出解决方案（缺少：{'、'.join(missing)}）",
            line=turn.first,
            agent=turn.first.sender,
            evidence=turn.first.text,
            source="phrases.rest_day_notice",
            suggestion=notice,
        )
