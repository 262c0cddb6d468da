"""One run of the checker: read the input, check it, report it, save it.

`run(options, policy, ...)` does what ``aftersales check`` asks for once its
command line is validated (`CheckOptions`; `compliance.cli` parses and prints):

- the input is transcript files (``PATH...``) or stored tickets (``--db URL`` with
  ``--since`` / ``--until``); bad input lines come back as `TranscriptError`s and
  the good sessions are still checked (the report says it is incomplete);
- sessions are checked one at a time in this process, or, for large files, in
  worker processes that read and check a share of the bytes each
  (`compliance.parallel`), and handed to the report writer in reading order, so
  text, JSON and CSV reports stream;
- `prepare_session` does everything after the rules for one session (mask,
  mark false positives, score), here or in a worker;
- QA verdicts stored in the database mark findings as false positives: listed,
  not scored, not failing; ``--save`` stores the run and its findings.

A problem the user can fix is a `UsageError` (or `PolicyError`, `WorkerFailed`)
whose message says what to change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from compliance.checker import CheckContext, Checker, SessionCheckFailed
from compliance.masking import mask_finding, mask_pii
from compliance.model import Finding, Session, TranscriptError
from compliance.options import CheckOptions, UsageError
from compliance.policy import Policy
from compliance.progress import Progress
from compliance.reports import WRITERS, EncodedWriter, ReportWriter, make_writer, session_encoder
from compliance.reports.summary import (
    ReportedSession,
    RunInfo,
    Summary,
    SummaryBuilder,
    SummaryPart,
)
from compliance.scoring import FindingKey, finding_key, score_session

if TYPE_CHECKING:
    from sqlalchemy import Engine


__all__ = [
    "Outcome",
    "ReportTarget",
    "SessionReporter",
    "prepare_session",
    "run",
]

ProgressFactory = Callable[[int, str], Progress]
"""(sessions to go, label) -> a progress bar (`Progress.disabled()` when none is shown)."""


@dataclass(frozen=True, slots=True)
class ReportTarget:
    """Where the report goes: a text stream, or a file path for a binary format."""

    stream: TextIO | None
    path: Path | None
    color: bool = False


@dataclass(slots=True)
class Outcome:
    """What a run found: the summary, the raw findings (kept for ``--save``), how
    many input errors there were, and the id of the saved run."""

    summary: Summary
    raw_findings: list[Finding]
    input_errors: int = 0
    saved_run: int | None = None


@dataclass(slots=True)
class _Input:
    sessions: list[Session]
    errors: list[TranscriptError]
    sources: tuple[str, ...]
    assigned: dict[str, str] = field(default_factory=dict)
    reported: Iterator[Any] | None = None
    """Sessions checked in worker processes, in order; None: check `sessions` here.
    `ReportedSession`s, or with `summary_parts` what the format's session encoder
    made of them (the workers counted the summary too)."""
    total: int = 0
    """How many sessions `reported` yields."""
    summary_parts: Callable[[], list[SummaryPart]] | None = None
    """The workers' summary counts (read once `reported` is exhausted)."""
    lines: int = 0
    """Transcript lines read from files, good and bad (blank lines not counted)."""


def run(
    options: CheckOptions,
    policy: Policy,
    *,
    output: Callable[[], AbstractContextManager[ReportTarget]],
    progress: ProgressFactory,
    notice: Callable[[str], None],
) -> Outcome:
    """Check what `options` name against `policy` and write the report.

    `output` opens where the report goes (entered once the input is read);
    `notice` is told, a line at a time, what was wrong with the input (each bad
    line, ``FILE:LINE: problem``) and what was skipped, before checking starts.
    """
    started_at = datetime.now(UTC)
    engine: Engine | None = None
    stack = contextlib.ExitStack()
    try:
        if options.database:
            engine = _open_engine(options.database)
        # Built before any worker process starts, so the workers inherit it; with a
        # database, the exemplars QA's marks stored there teach its detectors.
        exemplars = None
        if engine is not None:
            from compliance.exemplars import stored_exemplars  # storage: only with --db

            exemplars = stored_exemplars(engine)
        context = CheckContext.build(policy, exemplars=exemplars) if exemplars else None
        checker = Checker(policy, select=options.select, ignore=options.ignore, context=context)
        data, false_positives = _load(options, engine, checker, stack, progress, notice)
        for error in data.errors:
            notice(str(error))
        if options.paths and not data.lines and not data.errors:
            # Empty or blank files: a report of nothing would pass for a clean bill.
            raise UsageError(
                f"nothing to check: no transcript lines in {', '.join(options.paths)} "
                "(the files are empty or blank)"
            )
        info = RunInfo(
            policy=policy,
            sources=data.sources,
            input_errors=tuple(str(e) for e in data.errors),
            started_at=started_at,
        )
        with output() as target:
            outcome = _check_all(checker, options, data, info, false_positives, target, progress)
        outcome.input_errors = len(data.errors)
        if options.save and engine is not None:
            from sqlalchemy.exc import SQLAlchemyError

            try:
                outcome.saved_run = _save(engine, options, info, outcome)
            except SQLAlchemyError as exc:
                raise UsageError(f"could not save the run: {_first_line(exc)}") from None
        return outcome
    finally:
        stack.close()  # worker processes, if any; the input read, frozen
        if engine is not None:
            engine.dispose()


def _files(paths: Sequence[str], notice: Callable[[str], None]) -> list[Path]:
    """The transcript files the command line names (a directory: its ``*.jsonl``)."""
    from compliance.reader import transcript_files

    files, missing, skipped = transcript_files(paths)
    for entry in skipped:
        notice(entry)
    if missing:
        # A path that is not there is a mistake on the command line, not a bad line:
        # say so and check nothing rather than report on a subset nobody asked for.
        raise UsageError("; ".join(str(problem) for problem in missing))
    return files


def _read_files(files: list[Path], stack: contextlib.ExitStack) -> _Input:
    from compliance.reader import read_transcripts

    # What is read lives until checked: millions of objects and no reference cycles.
    # Read with the collector off, then freeze it all (until the run ends) before
    # turning the collector back on, which would otherwise walk every object read
    # once at its first collection (0.36 s a million lines) for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        read = read_transcripts(files)
    finally:
        gc.freeze()
        stack.callback(gc.unfreeze)
        if collecting:
            gc.enable()
    sources = tuple(read.files or (str(f) for f in files))
    return _Input(read.sessions, read.errors, sources, lines=read.lines)


def _check_files_in_parts(
    options: CheckOptions,
    files: list[Path],
    checker: Checker,
    stack: contextlib.ExitStack,
    progress: ProgressFactory,
) -> _Input | None:
    """Start reading and checking the files in worker processes when that pays
    (None: it does not); the sessions arrive through `_Input.reported`."""
    from compliance.parallel import PartsRun, auto_jobs, fork_available

    jobs = options.jobs or auto_jobs(files)
    if jobs < 2 or not fork_available():
        return None
    encode = session_encoder(options.format)
    parts = stack.enter_context(
        PartsRun(
            files,
            checker,
            prepare_session,
            jobs=jobs,
            keep_lines=WRITERS[options.format].shows_transcripts,
            encode=encode,
        )
    )
    # Reading comes first in every worker; say so, the bar follows once it is done.
    reading = progress(0, f"读取转录（{jobs} 个进程）")
    reading.update(0)
    try:
        parts.start()
    finally:
        reading.close()
    return _Input(
        [],
        parts.errors,
        tuple(str(f) for f in files),
        reported=parts.reported(),
        total=parts.sessions,
        lines=parts.lines,
        summary_parts=(lambda: parts.summary_parts) if encode is not None else None,
    )


def _read_db(engine: Engine, options: CheckOptions) -> _Input:
    from compliance.dbsource import describe_url, has_schema, load_sessions

    assert options.db is not None
    if not has_schema(engine):
        raise UsageError(
            f"--db {describe_url(options.db)}: no aftersales tables there "
            "(wrong database, or never migrated: `aftersales serve --db URL` creates them)"
        )
    stored = load_sessions(engine, since=options.since, until=options.until)
    span = f"{options.since or '…'} – {options.until or '…'}"
    source = f"{describe_url(options.db)}（工单开单日期 {span}，{stored.tickets} 张）"
    return _Input(stored.sessions, stored.errors, (source,), stored.assigned)


def _open_engine(url: str) -> Engine:
    from storage.db import DatabaseURLError, make_engine

    try:
        return make_engine(url)
    except DatabaseURLError as exc:
        raise UsageError(f"database error: {exc}") from None


def _load(
    options: CheckOptions,
    engine: Engine | None,
    checker: Checker,
    stack: contextlib.ExitStack,
    progress: ProgressFactory,
    notice: Callable[[str], None],
) -> tuple[_Input, frozenset[FindingKey]]:
    """The sessions to check, and the findings QA marked false positive in the database."""
    if engine is None:
        files = _files(options.paths, notice)
        if options.jobs != 1:
            checked = _check_files_in_parts(options, files, checker, stack, progress)
            if checked is not None:
                return checked, frozenset()
        return _read_files(files, stack), frozenset()
    from sqlalchemy.exc import SQLAlchemyError

    from compliance.dbsource import has_schema, load_false_positives

    try:
        data = (
            _read_db(engine, options)
            if options.db
            else _read_files(_files(options.paths, notice), stack)
        )
        # A --save-db database may be new (no tables, so no verdicts yet).
        if data.sessions and (options.db or has_schema(engine)):
            return data, load_false_positives(engine, {s.id for s in data.sessions})
        return data, frozenset()
    except SQLAlchemyError as exc:
        raise UsageError(f"database error: {_first_line(exc)}") from None


def prepare_session(
    policy: Policy,
    session: Session,
    findings: list[Finding],
    *,
    false_positives: frozenset[FindingKey] = frozenset(),
    engineer: str | None = None,
) -> ReportedSession:
    """One checked session as reports take it: findings masked, false positives
    marked, the session scored.  Pure, so worker processes run it too."""
    if findings:
        flags = (
            tuple(finding_key(f) in false_positives for f in findings)
            if false_positives
            else (False,) * len(findings)
        )
        masked = tuple(mask_finding(f) for f in findings)
    else:
        flags, masked = (), ()
    score = score_session(
        session, findings, policy, false_positives=false_positives, engineer=engineer
    )
    # A session id may be the customer's phone number (exports keyed by caller).
    shown = mask_pii(session.id)
    if shown is not session.id:
        session = dataclasses.replace(session, id=shown)
        score = dataclasses.replace(score, session=shown)
    return ReportedSession(session, masked, flags, score)


class SessionReporter:
    """Everything after the rules for one session: mask, mark false positives, score,
    count, hand to the report writer (and keep the raw findings for ``--save``)."""

    def __init__(
        self,
        policy: Policy,
        writer: ReportWriter,
        builder: SummaryBuilder,
        *,
        false_positives: frozenset[FindingKey] = frozenset(),
        assigned: dict[str, str] | None = None,
        keep_raw: bool = False,
    ) -> None:
        self.policy = policy
        self.writer = writer
        self.builder = builder
        self.false_positives = false_positives
        self.assigned = assigned or {}
        self.raw_findings: list[Finding] | None = [] if keep_raw else None

    def add(self, session: Session, findings: list[Finding]) -> None:
        """Report one checked session."""
        if self.raw_findings is not None:
            self.raw_findings.extend(findings)
        self.emit(self.prepare(session, findings))

    def prepare(self, session: Session, findings: list[Finding]) -> ReportedSession:
        """Mask, mark and score one checked session."""
        return prepare_session(
            self.policy,
            session,
            findings,
            false_positives=self.false_positives,
            engineer=self.assigned.get(session.id),
        )

    def emit(self, reported: ReportedSession) -> None:
        """Count a prepared session and hand it to the report writer."""
        self.builder.add(reported)
        self.writer.session(reported)


def _check_all(
    checker: Checker,
    options: CheckOptions,
    data: _Input,
    info: RunInfo,
    false_positives: frozenset[FindingKey],
    target: ReportTarget,
    progress: ProgressFactory,
) -> Outcome:
    policy = checker.policy
    info = dataclasses.replace(info, rules=checker.codes)
    writer = make_writer(options.format, stream=target.stream, path=target.path, color=target.color)
    builder = SummaryBuilder(info)
    reporter = SessionReporter(
        policy,
        writer,
        builder,
        false_positives=false_positives,
        assigned=data.assigned,
        keep_raw=options.save,
    )
    summary_parts = data.summary_parts
    if data.reported is not None:
        # Checked in worker processes; they arrive in reading order.
        checked, total = data.reported, data.total
        data.reported = None
    else:
        total = len(data.sessions)
        checked = _check_here(data, checker, reporter)
    bar = progress(total, "检查会话")
    done = 0
    writer.begin(info)
    try:
        if summary_parts is not None:
            # Encoded and counted in the workers: only the writing is left here.
            write = cast(EncodedWriter, writer).session_encoded
            for encoded in checked:
                write(encoded)
                done += 1
                bar.update(done)
            for part in summary_parts():
                builder.merge(part)
        else:
            for reported in checked:
                reporter.emit(reported)
                done += 1
                bar.update(done)
    finally:
        bar.close()
    summary = builder.build()
    writer.finish(summary)
    return Outcome(summary, reporter.raw_findings or [])


def _check_here(
    data: _Input, checker: Checker, reporter: SessionReporter
) -> Iterator[ReportedSession]:
    """Check the sessions of `data` in this process, one at a time."""
    # Each session is let go once reported (no writer keeps Session objects), so a
    # large run's memory shrinks while the summary and the report's tail are built.
    pending = data.sessions
    data.sessions = []
    pending.reverse()
    check = checker.check
    raw = reporter.raw_findings
    # The sessions read (a million lines are millions of objects) live until
    # checked: frozen, the collector's full passes skip them, where walking them
    # again and again cost a fifth of the rules' time.  Young objects are still
    # collected.
    gc.freeze()
    try:
        while pending:
            session = pending.pop()
            try:
                findings = check(session)
                reported = reporter.prepare(session, findings)
            except Exception as exc:
                raise SessionCheckFailed(session, exc) from exc
            if raw is not None:
                raw.extend(findings)
            yield reported
    finally:
        gc.unfreeze()


def _save(engine: Engine, options: CheckOptions, info: RunInfo, outcome: Outcome) -> int:
    from compliance.dbsource import save_run
    from storage.migrate import upgrade

    if options.save_db:
        # Saving file results into a database of their own: make sure its tables exist.
        upgrade(engine)
    parameters: dict[str, Any] = {
        "select": list(options.raw_select),
        "ignore": list(options.raw_ignore),
        "rules": list(outcome.summary.run.rules),
        "since": options.since.isoformat() if options.since else None,
        "until": options.until.isoformat() if options.until else None,
        "complete": info.complete,
        "input_errors": len(info.input_errors),
        "policy_profile": info.policy.meta.profile,
    }
    return save_run(
        engine,
        outcome.raw_findings,
        source="；".join(info.sources),
        policy_name=info.policy_name,
        parameters=parameters,
        sessions_checked=outcome.summary.sessions,
        started_at=info.started_at.astimezone(UTC),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
