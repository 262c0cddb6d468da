"""What every report format shares: the run's facts, the checked sessions, the summary.

The ``check`` command feeds a `SummaryBuilder` one `ReportedSession` at a time (a
session, its findings, which of them QA marked false positive, its score) and
hands the same objects to the report writer, so a million-line run never holds
more than the writer itself needs.  Worker processes that check part of the
sessions keep builders of their own and send back what they counted
(`SummaryBuilder.part`), which the parent merges in reading order.
`Summary.to_dict` is the ``summary`` object of the JSON report (SPEC §3 plus
scoring).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from compliance.calendar import SHANGHAI
from compliance.codes import RULE_CODES
from compliance.model import Finding, Session, pickled_by_fields
from compliance.policy import Policy
from compliance.scoring import EngineerMonth, EngineerTally, EngineerTotal, SessionScore

__all__ = [
    "RULE_TITLES",
    "SEVERITY_LABELS",
    "EngineerNames",
    "ReportedSession",
    "RuleCount",
    "RunInfo",
    "Summary",
    "SummaryBuilder",
    "SummaryPart",
    "score_record",
    "engineer_label",
    "local_time",
]

# Chinese titles of the rules for QA-facing reports (the codes' English names stay
# the stable identifiers; these are display text only).
RULE_TITLES: Mapping[str, str] = {
    "SCR001": "未按规范开场问候",
    "SCR002": "问候中的姓名或工号不符",
    "SCR003": "远程前未提示数据备份",
    "SCR004": "解决后未致谢",
    "SCR005": "解决后未作责任告知",
    "SCR006": "客户已谢绝仍追问建议",
    "SCR007": "休息日未告知处理安排",
    "LNG001": "脏话或口头禅",
    "LNG002": "辱骂、贬低或嘲讽客户",
    "LNG003": "威胁或宣布拉黑删除客户",
    "LNG004": "挂断或离开会话",
    "LNG005": "损害公司形象",
    "LNG006": "称呼客户“你”",
    "LNG007": "客户抱怨未表示理解或致歉",
    "LNG008": "客户质疑未予回应",
    "LNG009": "客户情绪激动未安抚",
    "SLA001": "首次响应超时",
    "SLA002": "回复超时",
    "SLA003": "接单超时",
    "SLA004": "方案超时",
    "SLA005": "未按时同步进度",
    "SLA006": "投诉首次回复超时",
    "SLA007": "投诉处理超时",
}

SEVERITY_LABELS: Mapping[str, str] = {"error": "错误", "warning": "警告", "info": "提示"}
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


def local_time(ts: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai, the time QA reads; "" for none."""
    return ts.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def engineer_label(staff_no: str | None, name: str | None) -> str:
    """``张三（1818）``, or the 工号 alone when the name is unknown; "" for nobody."""
    if not staff_no:
        return ""
    return f"{name}（{staff_no}）" if name else staff_no


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Facts about the run that every report states."""

    policy: Policy
    sources: tuple[str, ...]
    """The files read, or the database (URL without password) and date range."""
    input_errors: tuple[str, ...] = ()
    """Every bad input line as ``FILE:LINE: problem``; non-empty means incomplete."""
    rules: tuple[str, ...] = ()
    """Codes of the rules that ran (after --select / --ignore)."""
    started_at: datetime = field(default_factory=lambda: datetime.now(SHANGHAI))

    @property
    def complete(self) -> bool:
        """False when some input could not be read: the report covers only the rest."""
        return not self.input_errors

    @property
    def policy_name(self) -> str:
        return self.policy.meta.name


# Not frozen, for the reason given at `compliance.model.Line` (one is built per
# session); treated as immutable (change one with dataclasses.replace).
@pickled_by_fields
@dataclass(slots=True, unsafe_hash=True)
class ReportedSession:
    """One checked session as reports see it."""

    session: Session
    findings: tuple[Finding, ...]
    """Findings in session order, personal numbers already masked."""
    false_positive: tuple[bool, ...]
    """Per finding: QA marked it a false positive (listed, not counted)."""
    score: SessionScore
    line_count: int | None = None
    """Lines in the session when `session` comes without them (checked in another
    process, which sends back only what the reports need); None: ``len(session.lines)``."""

    @property
    def lines(self) -> int:
        """How many lines the session has."""
        count = self.line_count
        return len(self.session.lines) if count is None else count

    @property
    def standing(self) -> tuple[Finding, ...]:
        """The findings that count."""
        return tuple(f for f, fp in zip(self.findings, self.false_positive, strict=True) if not fp)


@dataclass(frozen=True, slots=True)
class RuleCount:
    """Findings of one rule in the run."""

    code: str
    name: str
    title: str
    severity: str
    count: int


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of a whole run (counts exclude false positives unless named so)."""

    run: RunInfo
    sessions: int
    lines: int
    flagged_sessions: int
    by_severity: Mapping[str, int]
    by_rule: tuple[RuleCount, ...]
    by_day: tuple[tuple[date, int], ...]
    engineers: tuple[EngineerTotal, ...]
    engineer_months: tuple[EngineerMonth, ...]
    scores: tuple[SessionScore, ...]
    """Per session, in reading order; empty where the sessions were counted without
    their scores (`SummaryBuilder.add`), whose report encoded them on the way."""
    false_positives: int
    average_score: float | None

    @property
    def findings(self) -> int:
        return sum(self.by_severity.values())

    @property
    def errors(self) -> int:
        return self.by_severity.get("error", 0)

    def to_dict(self, *, scores: bool = True) -> dict[str, Any]:
        """The JSON report's ``summary`` object (its ``scores`` list left empty
        without `scores`, for a writer that encoded them on the way)."""
        run = self.run
        return {
            "policy": run.policy_name,
            "policy_profile": run.policy.meta.profile,
            "complete": run.complete,
            "input_errors": list(run.input_errors),
            "sources": list(run.sources),
            "rules_run": list(run.rules),
            "sessions": self.sessions,
            "lines": self.lines,
            "sessions_with_findings": self.flagged_sessions,
            "findings": self.findings,
            "false_positives": self.false_positives,
            "by_severity": dict(self.by_severity),
            "by_rule": [
                {"code": r.code, "name": r.name, "severity": r.severity, "count": r.count}
                for r in self.by_rule
            ],
            "by_day": [{"date": day.isoformat(), "count": count} for day, count in self.by_day],
            "by_engineer": [
                {
                    "agent": e.engineer,
                    "name": e.name,
                    "sessions": e.sessions,
                    "average_score": _round(e.average_score, 1),
                    "findings": e.findings,
                    "by_severity": dict(e.findings_by_severity),
                    "satisfaction_average": _round(e.satisfaction_average, 2),
                    "rated": e.rated,
                }
                for e in self.engineers
            ],
            "average_score": _round(self.average_score, 1),
            "scores": [score_record(s) for s in self.scores] if scores else [],
            "engineer_months": [
                {
                    "agent": m.engineer,
                    "name": m.name,
                    "month": m.month or None,
                    "sessions": m.sessions,
                    "average_score": _round(m.average_score, 1),
                    "findings_by_code": dict(m.findings_by_code),
                    "findings_by_severity": dict(m.findings_by_severity),
                    "satisfaction_average": _round(m.satisfaction_average, 2),
                    "rated": m.rated,
                }
                for m in self.engineer_months
            ],
        }


def score_record(score: SessionScore) -> dict[str, Any]:
    """One session's entry in the ``scores`` list of the JSON summary."""
    day = score.day
    engineers = score.engineers
    return {
        "session": score.session,
        "agent": engineers[0] if engineers else None,
        "agents": list(engineers),
        "date": day.isoformat() if day else None,
        "score": score.score.points,
        "deducted": score.score.deducted,
        "fatal": list(score.score.fatal),
        "findings": score.findings,
        "false_positives": score.false_positives,
        "rating": score.rating,
        "rating_points": score.rating_points,
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class EngineerNames:
    """Engineers' names by 工号: as the transcripts give them, else the policy roster."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        # 工号 -> (reading position of the session that gave it, name).
        self._names: dict[str, tuple[int, str]] = {}
        self._learnt = 0

    def learn(self, session: Session, position: int | None = None) -> None:
        """Remember the names a session gives: the first name seen for a 工号 wins,
        by `position` (the session's place in reading order) when given, else by
        the order of the calls."""
        if position is None:
            position = self._learnt
        self._learnt += 1
        for staff_no, name in session.names.items():
            if staff_no not in self._names:
                self._names[staff_no] = (position, name)

    def merge(self, names: Mapping[str, tuple[int, str]]) -> None:
        """Take names learnt elsewhere (`SummaryPart.names`): the earlier one wins."""
        for staff_no, entry in names.items():
            mine = self._names.get(staff_no)
            if mine is None or entry[0] < mine[0]:
                self._names[staff_no] = entry

    @property
    def learnt(self) -> dict[str, tuple[int, str]]:
        return dict(self._names)

    def __call__(self, staff_no: str) -> str | None:
        entry = self._names.get(staff_no)
        if entry and entry[1]:
            return entry[1]
        engineer = self._policy.engineer(staff_no)
        return engineer.name if engineer else None


@dataclass(slots=True)
class SummaryPart:
    """What a `SummaryBuilder` counted, to be added to another one: a worker process
    checks part of the sessions and sends this back at the end."""

    sessions: int
    lines: int
    flagged: int
    false_positives: int
    score_sum: int
    by_severity: Counter[str]
    by_rule: Counter[str]
    by_day: Counter[date]
    tally: EngineerTally
    names: dict[str, tuple[int, str]]
    scores: list[tuple[int, SessionScore]]
    """Per session, in reading order: its reading position and its score."""


class SummaryBuilder:
    """Accumulates reported sessions into a `Summary`."""

    def __init__(self, run: RunInfo) -> None:
        self.run = run
        self.engineer_name = EngineerNames(run.policy)
        self._tally = EngineerTally(self.engineer_name)
        self._sessions = 0
        self._lines = 0
        self._flagged = 0
        self._false_positives = 0
        self._by_severity: Counter[str] = Counter()
        self._by_rule: Counter[str] = Counter()
        self._by_day: Counter[date] = Counter()
        self._scores: list[tuple[int, SessionScore]] = []
        self._score_sum = 0

    def add(
        self, reported: ReportedSession, position: int | None = None, *, keep_score: bool = True
    ) -> None:
        """Count one checked session; `position` is its place in reading order when
        this builder sees only some of the sessions (default: the order of the calls).

        Without `keep_score` the session is counted but `Summary.scores` leaves it
        out: for a worker process that encodes each session's part of the report,
        its score included (`compliance.reports.session_encoder`), so that only text
        goes to the parent, which never needs the score itself."""
        session = reported.session
        if position is None:
            position = self._sessions
        self.engineer_name.learn(session, position)
        self._sessions += 1
        self._lines += reported.lines
        score = reported.score
        if keep_score:
            self._scores.append((position, score))
        self._score_sum += score.points
        standing = reported.standing if True in reported.false_positive else reported.findings
        self._false_positives += len(reported.findings) - len(standing)
        if standing:
            self._flagged += 1
        for finding in standing:
            self._by_severity[finding.severity] += 1
            self._by_rule[finding.rule] += 1
            day = finding.ts.astimezone(SHANGHAI).date() if finding.ts else score.day
            if day is not None:
                self._by_day[day] += 1
        self._tally.add(score, standing)

    def part(self) -> SummaryPart:
        """Everything counted so far, for `merge` into another builder."""
        return SummaryPart(
            sessions=self._sessions,
            lines=self._lines,
            flagged=self._flagged,
            false_positives=self._false_positives,
            score_sum=self._score_sum,
            by_severity=self._by_severity,
            by_rule=self._by_rule,
            by_day=self._by_day,
            tally=self._tally,
            names=self.engineer_name.learnt,
            scores=self._scores,
        )

    def merge(self, part: SummaryPart) -> None:
        """Add what another builder counted (`part`); sessions keep reading order."""
        self._sessions += part.sessions
        self._lines += part.lines
        self._flagged += part.flagged
        self._false_positives += part.false_positives
        self._score_sum += part.score_sum
        self._by_severity.update(part.by_severity)
        self._by_rule.update(part.by_rule)
        self._by_day.update(part.by_day)
        self._tally.merge(part.tally)
        self.engineer_name.merge(part.names)
        if part.scores:  # empty when counted without them
            self._scores = list(heapq.merge(self._scores, part.scores, key=itemgetter(0)))

    def build(self) -> Summary:
        """The summary of everything added so far."""
        policy = self.run.policy
        by_rule = tuple(
            RuleCount(
                code=code,
                name=RULE_CODES.get(code, code),
                title=RULE_TITLES.get(code, RULE_CODES.get(code, code)),
                severity=policy.rules[code].severity if code in policy.rules else "error",
                count=count,
            )
            for code, count in sorted(self._by_rule.items())
        )
        return Summary(
            run=self.run,
            sessions=self._sessions,
            lines=self._lines,
            flagged_sessions=self._flagged,
            by_severity={s: self._by_severity.get(s, 0) for s in SEVERITIES},
            by_rule=by_rule,
            by_day=tuple(sorted(self._by_day.items())),
            engineers=tuple(self._tally.totals()),
            engineer_months=tuple(self._tally.months()),
            scores=tuple(score for _position, score in self._scores),
            false_positives=self._false_positives,
            average_score=self._score_sum / self._sessions if self._sessions else None,
        )
