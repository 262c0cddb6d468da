"""What the QA and manager pages show, read from the database (runs in a worker thread).

A *view* is every stored session (ticket) opened in a period, as the checker
sees it (`compliance.dbsource.load_sessions`), each with the findings of the
newest check run that covered it, QA's verdicts on them, and its score
(`compliance.scoring`: false positives listed but not counted).  A run covers
the sessions its ``parameters["sessions"]`` lists (runs started from the
console record them) and, for runs made elsewhere, every session it has a
finding on.

The same view feeds the dashboard figures, the findings list, the session
page and the exports (through the compliance report writers), so what is
exported is what is on screen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DbSession

from compliance.calendar import SHANGHAI
from compliance.checker import CheckContext, Checker
from compliance.dbsource import describe_url, load_sessions, save_run
from compliance.exemplars import CUSTOMER_CUE_RULES, load_exemplars, record_exemplar
from compliance.masking import mask_finding
from compliance.model import Finding, Line, Session
from compliance.policy import Policy
from compliance.reports.summary import ReportedSession, RunInfo, Summary, SummaryBuilder
from compliance.scoring import FindingKey, finding_key, score_session
from storage.models import CheckRun, QaReview, Ticket, Verdict
from storage.models import Finding as FindingRow

# Runs looked at when finding each session's newest check (older ones are history).
RECENT_RUNS = 500
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Review:
    """QA's latest verdict on a finding (or on the same finding in an earlier run)."""

    verdict: str
    reason: str
    reviewer: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ShownFinding:
    """A stored finding as the pages show it: masked, with its row id and QA's verdict."""

    id: int
    run_id: int
    finding: Finding
    channel: str
    review: Review | None = None

    @property
    def false_positive(self) -> bool:
        return self.review is not None and self.review.verdict == Verdict.FALSE_POSITIVE.value


@dataclass(slots=True)
class SessionView:
    """One stored session with its findings and score."""

    session: Session
    assigned: str | None
    checked: bool
    findings: list[ShownFinding]
    reported: ReportedSession

    @property
    def engineer(self) -> str | None:
        return self.reported.score.engineer


@dataclass(frozen=True, slots=True)
class Filters:
    """The findings list's filters (empty string = any)."""

    code: str = ""
    severity: str = ""
    engineer: str = ""
    channel: str = ""
    day: date | None = None
    show_false_positives: bool = True

    def session_matches(self, view: SessionView) -> bool:
        if self.channel and view.session.channel != self.channel:
            return False
        return not self.engineer or self.engineer in view.reported.score.engineers

    def finding_matches(self, shown: ShownFinding, view: SessionView) -> bool:
        finding = shown.finding
        if self.code and not finding.rule.startswith(self.code):
            return False
        if self.severity and finding.severity != self.severity:
            return False
        if self.engineer and (finding.agent or view.engineer) != self.engineer:
            return False
        if self.day is not None:
            when = finding.ts or (view.session.lines[0].ts if view.session.lines else None)
            if when is None or when.astimezone(SHANGHAI).date() != self.day:
                return False
        return self.show_false_positives or not shown.false_positive

    @property
    def narrows_findings(self) -> bool:
        return bool(self.code or self.severity or self.day or not self.show_false_positives)


@dataclass(slots=True)
class QaView:
    """Every session of a period, and the figures over them."""

    since: date
    until: date
    sessions: list[SessionView]
    summary: Summary
    read_errors: list[str] = field(default_factory=list)

    @property
    def unchecked(self) -> int:
        return sum(1 for view in self.sessions if not view.checked)

    def session(self, session_id: str) -> SessionView | None:
        for view in self.sessions:
            if view.session.id == session_id:
                return view
        return None

    def filtered(self, filters: Filters) -> list[tuple[SessionView, list[ShownFinding]]]:
        """Sessions passing the filters with their matching findings; when the filters
        narrow findings, sessions left without any are dropped."""
        out = []
        for view in self.sessions:
            if not filters.session_matches(view):
                continue
            shown = [f for f in view.findings if filters.finding_matches(f, view)]
            if filters.narrows_findings and not shown:
                continue
            out.append((view, shown))
        return out


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _line_at(session: Session | None, index: int | None) -> Line | None:
    if session is None or index is None or not 0 <= index < len(session.lines):
        return None
    return session.lines[index]


def _to_finding(row: FindingRow, session: Session | None = None) -> Finding:
    """A stored finding as the checker made it.  Its span is the stored one where it
    still marks the evidence in the line; rows saved before spans were stored (or a
    line edited since) get it by looking for the evidence in the line."""
    span = None
    line = _line_at(session, row.index)
    if line is not None and row.evidence:
        text = line.text or ""
        start, end = row.span_start, row.span_end
        if start is not None and end is not None and text[start:end] == row.evidence:
            span = (start, end)
        else:
            found = text.find(row.evidence)
            if found >= 0:
                span = (found, found + len(row.evidence))
    return Finding(
        session=row.session,
        rule=row.rule,
        severity=str(row.severity),  # type: ignore[arg-type]  # Severity values are the literals
        message=row.message,
        ts=row.ts,
        index=row.index,
        agent=row.agent,
        evidence=row.evidence,
        span=span,
        source=row.source,
        score=row.score,
        suggestion=row.suggestion,
        inferred=row.inferred,
        layer=row.layer,
        confidence=row.confidence,
    )


def _newest_findings(
    db: DbSession, session_ids: Sequence[str]
) -> tuple[dict[str, list[FindingRow]], set[str]]:
    """The findings of each session's newest covering run, and the sessions ever checked."""
    runs = db.execute(
        select(CheckRun.id, CheckRun.parameters).order_by(CheckRun.id.desc()).limit(RECENT_RUNS)
    ).all()
    listed: dict[int, set[str]] = {}
    for run_id, parameters in runs:
        sessions = (parameters or {}).get("sessions")
        if isinstance(sessions, list):
            listed[run_id] = {str(s) for s in sessions}
    by_run: dict[str, dict[int, list[FindingRow]]] = defaultdict(lambda: defaultdict(list))
    run_ids = [run_id for run_id, _ in runs]
    for chunk in _chunks(session_ids):
        rows = db.scalars(
            select(FindingRow)
            .where(FindingRow.session.in_(chunk), FindingRow.check_run_id.in_(run_ids))
            .order_by(FindingRow.id)
        )
        for row in rows:
            by_run[row.session][row.check_run_id].append(row)
    newest: dict[str, list[FindingRow]] = {}
    checked: set[str] = set()
    for session_id in session_ids:
        for run_id in run_ids:  # newest first
            covered = session_id in listed.get(run_id, ()) or run_id in by_run[session_id]
            if covered:
                newest[session_id] = by_run[session_id].get(run_id, [])
                checked.add(session_id)
                break
    return newest, checked


def _reviews(db: DbSession, session_ids: Sequence[str]) -> dict[FindingKey, Review]:
    """The latest QA verdict per finding key on these sessions."""
    latest: dict[FindingKey, tuple[tuple[datetime, int], Review]] = {}
    for chunk in _chunks(session_ids):
        rows = db.execute(
            select(FindingRow, QaReview)
            .join(QaReview, QaReview.finding_id == FindingRow.id)
            .where(FindingRow.session.in_(chunk))
        )
        for finding, review in rows:
            key = (finding.session, finding.rule, finding.index, finding.evidence)
            stamp = (review.created_at, review.id)
            if key not in latest or stamp > latest[key][0]:
                latest[key] = (
                    stamp,
                    Review(str(review.verdict), review.reason, review.reviewer, review.created_at),
                )
    return {key: review for key, (_stamp, review) in latest.items()}


def build_view(engine: Engine, policy: Policy, since: date, until: date) -> QaView:
    """Every session opened from `since` to `until` (inclusive) with its stored findings."""
    stored = load_sessions(engine, since=since, until=until)
    ids = [session.id for session in stored.sessions]
    with DbSession(engine) as db:
        newest, checked = _newest_findings(db, ids)
        reviews = _reviews(db, ids)
    run = RunInfo(policy=policy, sources=(describe_url(str(engine.url)),))
    builder = SummaryBuilder(run)
    views: list[SessionView] = []
    for session in stored.sessions:
        rows = newest.get(session.id, [])
        shown = []
        findings = [_to_finding(row, session) for row in rows]
        for row, finding in zip(rows, findings, strict=True):
            shown.append(
                ShownFinding(
                    id=row.id,
                    run_id=row.check_run_id,
                    # The session id stays: the console links by it (it is a ticket
                    # number for the bot's own sessions).
                    finding=replace(mask_finding(finding), session=finding.session),
                    channel=session.channel,
                    review=reviews.get(finding_key(finding)),
                )
            )
        false_positives = {
            finding_key(finding)
            for finding, item in zip(findings, shown, strict=True)
            if item.false_positive
        }
        score = score_session(
            session,
            findings,
            policy,
            false_positives=false_positives,
            engineer=stored.assigned.get(session.id),
        )
        reported = ReportedSession(
            session=session,
            findings=tuple(s.finding for s in shown),
            false_positive=tuple(s.false_positive for s in shown),
            score=score,
        )
        if session.id in checked:
            builder.add(reported)
        views.append(
            SessionView(
                session=session,
                assigned=stored.assigned.get(session.id),
                checked=session.id in checked,
                findings=shown,
                reported=reported,
            )
        )
    return QaView(
        since=since,
        until=until,
        sessions=views,
        summary=builder.build(),
        read_errors=[str(error) for error in stored.errors],
    )


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: int
    sessions: int
    findings: int
    errors: tuple[str, ...]


def run_check(
    engine: Engine, policy: Policy, since: date, until: date, *, by: str, now: datetime
) -> RunResult:
    """Check every stored session of the period and save the run (QA's "run check");
    `now` is the app's clock, stamped on the run."""
    started = now
    wall_start = datetime.now(UTC)
    stored = load_sessions(engine, since=since, until=until)
    # QA's marks teach the detectors: their exemplars join the policy's own.
    context = CheckContext.build(policy, exemplars=load_exemplars(engine))
    checker = Checker(policy, context=context)
    findings = list(checker.check_all(stored.sessions))
    run_id = save_run(
        engine,
        findings,
        source=f"console: {describe_url(str(engine.url))} {since.isoformat()}..{until.isoformat()}",
        policy_name=policy.meta.name,
        parameters={
            "since": since.isoformat(),
            "until": until.isoformat(),
            "sessions": [session.id for session in stored.sessions],
            "rules": list(checker.codes),
            "by": by,
        },
        sessions_checked=len(stored.sessions),
        started_at=started,
        finished_at=started + (datetime.now(UTC) - wall_start),
    )
    return RunResult(
        run_id=run_id,
        sessions=len(stored.sessions),
        findings=len(findings),
        errors=tuple(str(error) for error in stored.errors),
    )


def record_review(
    engine: Engine,
    finding_id: int,
    verdict: str,
    reason: str,
    reviewer: str,
    now: datetime,
    policy: Policy | None = None,
) -> str | None:
    """Store QA's verdict on a finding (at `now`, the app's clock) and, with `policy`,
    the exemplar it teaches the finding's detector (`compliance.exemplars`); returns
    its session id, None if there is no such finding."""
    with DbSession(engine) as db, db.begin():
        row = db.get(FindingRow, finding_id)
        if row is None:
            return None
        db.add(
            QaReview(
                finding_id=finding_id,
                reviewer=reviewer,
                verdict=Verdict(verdict),
                reason=reason,
                created_at=now,
            )
        )
        if policy is not None:
            text = _line_text(engine, row) or row.evidence or ""
            record_exemplar(
                db, policy, row, verdict, text, reviewer=reviewer, reason=reason, now=now
            )
        return row.session


def _line_text(engine: Engine, row: FindingRow) -> str | None:
    """The text of the line a stored finding is on (a ticket's message), if found."""
    if row.index is None:
        return None
    with DbSession(engine) as db:
        opened = db.scalar(select(Ticket.opened_at).where(Ticket.number == row.session))
    if opened is None:
        return None
    day = opened.astimezone(SHANGHAI).date()
    stored = load_sessions(engine, since=day, until=day)
    session = next((s for s in stored.sessions if s.id == row.session), None)
    if row.rule in CUSTOMER_CUE_RULES:
        return _cue_text(session, row)
    line = _line_at(session, row.index)
    return line.text if line is not None else None


def _cue_text(session: Session | None, row: FindingRow) -> str | None:
    """The customer's message a customer-side finding read its cue in: the latest one
    before the agent's reply that holds the evidence (else the latest one)."""
    if session is None or row.index is None:
        return None
    before = [line for line in session.lines[: row.index] if line.role == "customer" and line.text]
    holding = [line for line in before if row.evidence and row.evidence in (line.text or "")]
    chosen = (holding or before)[-1:]
    return chosen[0].text if chosen else None


@dataclass(frozen=True, slots=True)
class PhraseExceptions:
    """False positives of one rule and phrase: what the policy's exceptions should learn."""

    rule: str
    evidence: str
    source: str | None
    count: int
    sessions: tuple[str, ...]
    reasons: tuple[str, ...]
    last_at: datetime


def false_positives_by_phrase(engine: Engine) -> list[PhraseExceptions]:
    """Every finding key whose latest verdict is false positive, grouped by rule and phrase."""
    latest: dict[FindingKey, tuple[tuple[datetime, int], str, str, str | None]] = {}
    with DbSession(engine) as db:
        rows = db.execute(
            select(FindingRow, QaReview).join(QaReview, QaReview.finding_id == FindingRow.id)
        )
        for finding, review in rows:
            key = (finding.session, finding.rule, finding.index, finding.evidence)
            stamp = (review.created_at, review.id)
            if key not in latest or stamp > latest[key][0]:
                latest[key] = (stamp, str(review.verdict), review.reason, finding.source)
    groups: dict[tuple[str, str], list[tuple[str, str, str | None, datetime]]] = defaultdict(list)
    for (session, rule, _index, evidence), (stamp, verdict, reason, source) in latest.items():
        if verdict == Verdict.FALSE_POSITIVE.value:
            groups[(rule, evidence or "")].append((session, reason, source, stamp[0]))
    out = []
    for (rule, evidence), items in groups.items():
        out.append(
            PhraseExceptions(
                rule=rule,
                evidence=evidence,
                source=next((source for _s, _r, source, _at in items if source), None),
                count=len(items),
                sessions=tuple(sorted({session for session, _r, _src, _at in items})),
                reasons=tuple(dict.fromkeys(reason for _s, reason, _src, _at in items)),
                last_at=max(at for _s, _r, _src, at in items),
            )
        )
    out.sort(key=lambda group: (-group.count, group.rule, group.evidence))
    return out


@dataclass(frozen=True, slots=True)
class RunRow:
    """A stored check run, as the dashboard lists it."""

    id: int
    started_at: datetime
    source: str
    sessions: int
    findings: int
    by: str | None


def recent_runs(engine: Engine, limit: int = 5) -> list[RunRow]:
    """The newest check runs (from the console or ``aftersales check --db --save``)."""
    with DbSession(engine) as db:
        rows = db.scalars(select(CheckRun).order_by(CheckRun.id.desc()).limit(limit))
        return [
            RunRow(
                id=run.id,
                started_at=run.started_at,
                source=run.source,
                sessions=run.sessions_checked,
                findings=run.findings_count,
                by=(run.parameters or {}).get("by"),
            )
            for run in rows
        ]
