"""Session scores and per-engineer monthly figures, as pure functions of findings.

A session starts at ``policy.scoring.start`` (100) and loses a fixed number of
points per finding by severity (``deduct_error`` / ``deduct_warning`` /
``deduct_info``), never going below 0; one finding whose code is in
``policy.scoring.fatal`` (profanity, abuse, block threats) sets the session to 0.
Findings QA has marked as false positives are listed in reports but count for
nothing here: they are identified by `finding_key`, so a re-check of the same
transcript recognises them.

A session counts once, for its responsible engineer: the assigned one (after a
reassignment, the engineer who holds it now), else the first who spoke — so the
per-engineer session counts add up to the sessions, never counting a reassigned
one twice.  Each finding is charged to its own ``agent`` (an engineer who only
took part is charged for their own lines), or to the responsible engineer when
the rule names none (a missed thanks line at the end, a late acceptance).
Satisfaction is the last ``satisfaction_rated`` event of the session, on the policy's
scale (很满意 5, 满意 3, 一般 2, 不满意 0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from compliance.calendar import SHANGHAI
from compliance.model import Finding, Session, pickled_by_fields
from compliance.policy import Policy, ScoringPolicy, Severity

__all__ = [
    "EngineerMonth",
    "EngineerTally",
    "EngineerTotal",
    "FindingKey",
    "Score",
    "SessionScore",
    "engineer_months",
    "finding_key",
    "score_findings",
    "score_session",
    "session_day",
    "session_rating",
]

FindingKey = tuple[str, str, int | None, str | None]
"""What identifies a finding across runs: session, rule, line index, evidence."""


def finding_key(finding: Finding) -> FindingKey:
    """The key under which QA reviews of `finding` are looked up."""
    return (finding.session, finding.rule, finding.index, finding.evidence)


# Not frozen, for the reason given at `compliance.model.Line` (one is built per
# session); treated as immutable (change one with dataclasses.replace).
@pickled_by_fields
@dataclass(slots=True, unsafe_hash=True)
class Score:
    """The score of one set of findings."""

    points: int
    """What is left of the start, floored at 0; 0 when a fatal code is present."""
    deducted: int
    """The sum of the deductions (may exceed the start)."""
    fatal: tuple[str, ...] = ()
    """The fatal codes found, sorted."""


def _deduction(scoring: ScoringPolicy, severity: Severity) -> int:
    if severity == "error":
        return scoring.deduct_error
    if severity == "warning":
        return scoring.deduct_warning
    return scoring.deduct_info


def score_findings(findings: Iterable[Finding], scoring: ScoringPolicy) -> Score:
    """Start minus the deductions of `findings` (floored at 0); 0 on a fatal code."""
    deducted = 0
    fatal: set[str] = set()
    fatal_codes = scoring.fatal
    for finding in findings:
        deducted += _deduction(scoring, finding.severity)
        if finding.rule in fatal_codes:
            fatal.add(finding.rule)
    points = 0 if fatal else max(0, scoring.start - deducted)
    return Score(points=points, deducted=deducted, fatal=tuple(sorted(fatal)))


# Not frozen, for the reason given at `compliance.model.Line` (one is built per
# session); treated as immutable (change one with dataclasses.replace).
@pickled_by_fields
@dataclass(slots=True, unsafe_hash=True)
class SessionScore:
    """The score and attribution of one session."""

    session: str
    engineers: tuple[str, ...]
    """工号 of everyone who took part, the responsible (assigned or first) engineer first."""
    day: date | None
    """The Asia/Shanghai date of the session's first line."""
    score: Score
    findings: int
    """Findings that count (false positives excluded)."""
    false_positives: int = 0
    rating: str | None = None
    rating_points: int | None = None

    @property
    def engineer(self) -> str | None:
        """The responsible engineer, or None for a session no engineer touched."""
        return self.engineers[0] if self.engineers else None

    @property
    def month(self) -> str | None:
        """``YYYY-MM`` of the session's first line (Asia/Shanghai)."""
        return f"{self.day.year:04d}-{self.day.month:02d}" if self.day else None

    @property
    def points(self) -> int:
        return self.score.points


def session_day(session: Session) -> date | None:
    """The Asia/Shanghai date the session started (its first line)."""
    if not session.lines:
        return None
    return session.lines[0].ts.astimezone(SHANGHAI).date()


def session_rating(session: Session) -> str | None:
    """The customer's last satisfaction rating in the session, if any."""
    for line in reversed(session.lines):
        if line.role == "event" and line.event == "satisfaction_rated" and line.rating:
            return line.rating
    return None


def score_session(
    session: Session,
    findings: Sequence[Finding],
    policy: Policy,
    *,
    false_positives: Collection[FindingKey] = (),
    engineer: str | None = None,
) -> SessionScore:
    """Score one session from its findings; `engineer` is the assigned one, if known.

    Findings whose `finding_key` is in `false_positives` do not count.
    """
    if false_positives:
        counted = [f for f in findings if finding_key(f) not in false_positives]
    else:
        counted = list(findings)
    # One pass over the lines for both the engineers and the last rating (a
    # million-line run calls this once per session).
    seen: dict[str, None] = {engineer: None} if engineer else {}
    rating: str | None = None
    for line in session.lines:
        role = line.role
        if role == "agent":
            if line.sender:
                seen[line.sender] = None
        elif role == "event" and line.rating and line.event == "satisfaction_rated":
            rating = line.rating
    engineers = tuple(seen)
    return SessionScore(
        session=session.id,
        engineers=engineers,
        day=session_day(session),
        score=score_findings(counted, policy.scoring),
        findings=len(counted),
        false_positives=len(findings) - len(counted),
        rating=rating,
        rating_points=policy.satisfaction_points(rating) if rating else None,
    )


@dataclass(frozen=True, slots=True)
class EngineerMonth:
    """One engineer's figures for one month."""

    engineer: str
    name: str | None
    month: str
    sessions: int
    average_score: float
    findings_by_code: Mapping[str, int]
    findings_by_severity: Mapping[str, int]
    rated: int
    """Sessions with a satisfaction rating."""
    satisfaction_average: float | None
    """Mean points of the rated sessions; None when none was rated."""


@dataclass(frozen=True, slots=True)
class EngineerTotal:
    """One engineer's figures over the whole run."""

    engineer: str
    name: str | None
    sessions: int
    average_score: float | None
    findings_by_severity: Mapping[str, int]
    rated: int
    satisfaction_average: float | None

    @property
    def findings(self) -> int:
        return sum(self.findings_by_severity.values())


@dataclass(slots=True)
class _Bucket:
    sessions: int = 0
    score_sum: int = 0
    rated: int = 0
    rating_sum: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)

    def add_session(self, score: SessionScore) -> None:
        self.sessions += 1
        self.score_sum += score.points
        if score.rating_points is not None:
            self.rated += 1
            self.rating_sum += score.rating_points

    def merge(self, other: _Bucket) -> None:
        self.sessions += other.sessions
        self.score_sum += other.score_sum
        self.rated += other.rated
        self.rating_sum += other.rating_sum
        self.by_code.update(other.by_code)
        self.by_severity.update(other.by_severity)

    def average(self) -> float | None:
        return self.score_sum / self.sessions if self.sessions else None

    def satisfaction(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None


_NO_MONTH = ""


def _no_names(staff_no: str) -> str | None:
    """The name lookup of a tally given none (and of one sent between processes)."""
    return None


class EngineerTally:
    """Accumulates session scores and findings into per-engineer figures.

    Feed it session by session with `add`; read `months()` and `totals()` at the
    end.  Keeps one small bucket per engineer and month, not the sessions.
    """

    def __init__(self, names: Callable[[str], str | None] = _no_names) -> None:
        self._names = names
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _bucket(self, engineer: str, month: str) -> _Bucket:
        key = (engineer, month)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        return bucket

    def add(
        self,
        score: SessionScore,
        findings: Iterable[Finding],
        false_positives: Collection[FindingKey] = (),
    ) -> None:
        """Count one session and its findings (false positives are not charged)."""
        month = score.month or _NO_MONTH
        if score.engineer is not None:
            self._bucket(score.engineer, month).add_session(score)
        for finding in findings:
            if false_positives and finding_key(finding) in false_positives:
                continue
            charged = finding.agent or score.engineer
            if charged is None:
                continue  # nobody answered: nobody to charge, the session score shows it
            bucket = self._bucket(charged, month)
            bucket.by_code[finding.rule] += 1
            bucket.by_severity[finding.severity] += 1

    def merge(self, other: EngineerTally) -> None:
        """Add the figures of a tally kept elsewhere (a worker process's part)."""
        for (engineer, month), bucket in other._buckets.items():
            self._bucket(engineer, month).merge(bucket)

    def __getstate__(self) -> dict[str, Any]:
        # Sent between processes without the name lookup (the receiver has its own).
        return {"buckets": self._buckets}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._names = _no_names
        self._buckets = state["buckets"]

    def months(self) -> list[EngineerMonth]:
        """Per engineer and month, sorted by engineer then month."""
        rows: list[EngineerMonth] = []
        for (engineer, month), bucket in sorted(self._buckets.items()):
            rows.append(
                EngineerMonth(
                    engineer=engineer,
                    name=self._names(engineer),
                    month=month,
                    sessions=bucket.sessions,
                    # An engineer charged with a finding in a session they did not take part
                    # in (a wrong 工号 in someone's greeting) may have no sessions of their own.
                    average_score=bucket.average() or 0.0,
                    findings_by_code=dict(sorted(bucket.by_code.items())),
                    findings_by_severity=_severity_counts(bucket.by_severity),
                    rated=bucket.rated,
                    satisfaction_average=bucket.satisfaction(),
                )
            )
        return rows

    def totals(self) -> list[EngineerTotal]:
        """Per engineer over the whole run, sorted by 工号."""
        merged: dict[str, _Bucket] = {}
        for (engineer, _month), bucket in self._buckets.items():
            merged.setdefault(engineer, _Bucket()).merge(bucket)
        return [
            EngineerTotal(
                engineer=engineer,
                name=self._names(engineer),
                sessions=bucket.sessions,
                average_score=bucket.average(),
                findings_by_severity=_severity_counts(bucket.by_severity),
                rated=bucket.rated,
                satisfaction_average=bucket.satisfaction(),
            )
            for engineer, bucket in sorted(merged.items())
        ]


def _severity_counts(counter: Counter[str]) -> dict[str, int]:
    return {severity: counter.get(severity, 0) for severity in ("error", "warning", "info")}


def engineer_months(
    scored: Iterable[tuple[SessionScore, Sequence[Finding]]],
    *,
    false_positives: Collection[FindingKey] = (),
    names: Callable[[str], str | None] = _no_names,
) -> list[EngineerMonth]:
    """Per engineer per month: sessions, average score, findings by code, satisfaction."""
    tally = EngineerTally(names)
    for score, findings in scored:
        tally.add(score, findings, false_positives)
    return tally.months()
