"""``aftersales check``: read transcripts, run the rules, score, report, exit like a linter.

`run_check(args)` takes the namespace `bot.cli` parsed (SPEC §3) and returns the
exit status: 0 no finding of severity error, 1 findings of severity error, 2 a
usage or input error.  Bad input lines are printed to stderr as
``FILE:LINE: problem``; the good sessions are still checked and reported, but
the report says it is incomplete and the status is 2.

Input is either transcript files (``PATH...``) or stored tickets (``--db URL``
with ``--since`` / ``--until``).  ``--save`` stores the run and its findings in
the database (``--db``, or ``--save-db URL`` for files).  QA verdicts stored in
that database mark findings as false positives: listed, not scored, not failing.

Sessions are checked one at a time and handed to the report writer as they
come, so text, JSON and CSV reports stream; a progress bar on stderr shows the
way when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from compliance.codes import expand_selection
from compliance.masking import mask_finding
from compliance.model import Finding, Session, TranscriptError
from compliance.parallel import WorkerFailed
from compliance.policy import Policy, PolicyError, load_policy
from compliance.reports import (
    FORMATS,
    WRITERS,
    EncodedWriter,
    ReportWriter,
    make_writer,
    session_encoder,
)
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

    from compliance.checker import Checker

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "Progress",
    "SessionReporter",
    "UsageError",
    "run_check",
]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

_PROG = "aftersales check"


class UsageError(ValueError):
    """A command line that cannot be run; the message says what to change."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """The validated command line of one check."""

    paths: tuple[str, ...]
    db: str | None
    since: date | None
    until: date | None
    format: str
    out: Path | None
    select: frozenset[str] | None
    ignore: frozenset[str]
    save: bool
    save_db: str | None
    progress: bool
    policy: str | None
    jobs: int = 1
    """Processes that read and check files (the ``--jobs`` given, or `auto_jobs`' pick)."""
    raw_select: tuple[str, ...] = field(default=())
    raw_ignore: tuple[str, ...] = field(default=())

    @property
    def database(self) -> str | None:
        """The database this run reads from or saves into, if any."""
        return self.db or self.save_db


def parse_options(args: argparse.Namespace) -> CheckOptions:
    """Validate the parsed arguments; raises `UsageError` naming what is wrong."""
    paths = tuple(getattr(args, "paths", None) or ())
    db = getattr(args, "db", None)
    since = getattr(args, "since", None)
    until = getattr(args, "until", None)
    fmt = getattr(args, "format", None) or "text"
    out = getattr(args, "out", None)
    save = bool(getattr(args, "save", False))
    save_db = getattr(args, "save_db", None)
    if paths and db:
        raise UsageError("give transcript PATHs or --db URL, not both")
    if not paths and not db:
        raise UsageError(
            "nothing to check: give transcript PATHs (files or directories) or --db URL"
        )
    if (since or until) and not db:
        which = "--since" if since else "--until"
        raise UsageError(f"{which} selects stored tickets by date: it needs --db URL")
    if since and until and since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r} (known: {', '.join(FORMATS)})")
    if WRITERS[fmt].binary and not out:
        raise UsageError(f"--format {fmt} writes {WRITERS[fmt].noun}: give --out FILE.{fmt}")
    if save_db and db:
        raise UsageError("--save-db is for transcript files; with --db the run is saved there")
    if save_db and not save:
        raise UsageError("--save-db URL needs --save")
    if save and not (db or save_db):
        raise UsageError("--save needs a database: --db URL, or --save-db URL for files")
    jobs = getattr(args, "jobs", None)
    if jobs is None:
        jobs = 0
    if type(jobs) is not int or jobs < 0:
        raise UsageError(f"--jobs {jobs}: give a number of processes, or 0 to choose by input size")
    if jobs > 1 and db:
        raise UsageError("--jobs is for transcript files; a --db check runs in one process")
    raw_select = tuple(getattr(args, "select", None) or ())
    raw_ignore = tuple(getattr(args, "ignore", None) or ())
    try:
        select = expand_selection(raw_select, what="--select") if raw_select else None
        ignore = expand_selection(raw_ignore, what="--ignore")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return CheckOptions(
        paths=paths,
        db=db,
        since=since,
        until=until,
        format=fmt,
        out=Path(out) if out else None,
        select=select,
        ignore=ignore,
        save=save,
        save_db=save_db,
        progress=not getattr(args, "no_progress", False),
        policy=getattr(args, "policy", None),
        jobs=jobs,
        raw_select=raw_select,
        raw_ignore=raw_ignore,
    )


class Progress:
    """A one-line progress bar on a terminal: ``检查会话 1200/8000 [####......] 15% 3s``.

    Redrawn at most ten times a second; `close` clears the line.  Write nothing
    (use `Progress.disabled()`) when the stream is not a terminal: a log file
    full of carriage returns helps nobody.
    """

    _WIDTH = 24

    def __init__(self, total: int, stream: TextIO | None, label: str = "检查会话") -> None:
        self.total = total
        self._stream = stream
        self._label = label
        self._started = time.monotonic()
        self._last = 0.0
        self._shown = False

    @classmethod
    def disabled(cls) -> Progress:
        return cls(0, None)

    def update(self, done: int) -> None:
        stream = self._stream
        if stream is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (not self.total or done < self.total):
            return
        self._last = now
        elapsed = now - self._started
        if not self.total:
            # Nothing to count yet (workers are still reading): say what is going on.
            stream.write(f"\r{self._label} …")
        else:
            fraction = done / self.total
            filled = int(self._WIDTH * fraction)
            bar = "#" * filled + "." * (self._WIDTH - filled)
            stream.write(
                f"\r{self._label} {done}/{self.total} [{bar}] {fraction:4.0%} {elapsed:5.1f}s"
            )
        stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._stream is not None and self._shown:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()


def _err(message: str) -> None:
    print(message, file=sys.stderr)


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


def _files(paths: Sequence[str]) -> list[Path]:
    """The transcript files the command line names (a directory: its ``*.jsonl``)."""
    from compliance.transcript import transcript_files

    files, missing = transcript_files(paths)
    if missing:
        # A path that is not there is a mistake on the command line, not a bad line:
        # say so and check nothing rather than report on a subset nobody asked for.
        raise UsageError("; ".join(str(problem) for problem in missing))
    return files


def _read_files(files: list[Path], stack: contextlib.ExitStack) -> _Input:
    from compliance.transcript import read_transcripts

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
    return _Input(read.sessions, read.errors, tuple(read.files or (str(f) for f in files)))


def _check_files_in_parts(
    options: CheckOptions, files: list[Path], checker: Checker, stack: contextlib.ExitStack
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
            jobs=jobs,
            keep_lines=WRITERS[options.format].shows_transcripts,
            encode=encode,
        )
    )
    # Reading comes first in every worker; say so, the bar follows once it is done.
    reading = _progress(options, 0, f"读取转录（{jobs} 个进程）")
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
    options: CheckOptions, engine: Engine | None, checker: Checker, stack: contextlib.ExitStack
) -> tuple[_Input, frozenset[FindingKey]]:
    """The sessions to check, and the findings QA marked false positive in the database."""
    if engine is None:
        files = _files(options.paths)
        if options.jobs != 1:
            checked = _check_files_in_parts(options, files, checker, stack)
            if checked is not None:
                return checked, frozenset()
        return _read_files(files, stack), frozenset()
    from sqlalchemy.exc import SQLAlchemyError

    from compliance.dbsource import has_schema, load_false_positives

    try:
        data = (
            _read_db(engine, options) if options.db else _read_files(_files(options.paths), stack)
        )
        # A --save-db database may be new (no tables, so no verdicts yet).
        if data.sessions and (options.db or has_schema(engine)):
            return data, load_false_positives(engine, {s.id for s in data.sessions})
        return data, frozenset()
    except SQLAlchemyError as exc:
        raise UsageError(f"database error: {_first_line(exc)}") from None


def _stdout_utf8() -> TextIO:
    stream = sys.stdout
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and hasattr(stream, "reconfigure"):
        # A C locale would make Chinese text an UnicodeEncodeError; reports are UTF-8.
        stream.reconfigure(encoding="utf-8")
    return stream


def _use_colour(options: CheckOptions) -> bool:
    if options.format != "text" or options.out is not None:
        return False
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _progress(options: CheckOptions, total: int, label: str = "检查会话") -> Progress:
    if options.progress and sys.stderr.isatty():
        return Progress(total, sys.stderr, label)
    return Progress.disabled()


@dataclass(frozen=True, slots=True)
class _Target:
    stream: TextIO | None
    path: Path | None


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


@dataclass(slots=True)
class _Outcome:
    summary: Summary
    raw_findings: list[Finding]


def _check_all(
    checker: Checker,
    options: CheckOptions,
    data: _Input,
    run: RunInfo,
    false_positives: frozenset[FindingKey],
    target: _Target,
) -> _Outcome:
    policy = checker.policy
    run = dataclasses.replace(run, rules=checker.codes)
    writer = make_writer(
        options.format, stream=target.stream, path=target.path, color=_use_colour(options)
    )
    builder = SummaryBuilder(run)
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
    progress = _progress(options, total)
    done = 0
    writer.begin(run)
    try:
        if summary_parts is not None:
            # Encoded and counted in the workers: only the writing is left here.
            write = cast(EncodedWriter, writer).session_encoded
            for encoded in checked:
                write(encoded)
                done += 1
                progress.update(done)
            for part in summary_parts():
                builder.merge(part)
        else:
            for reported in checked:
                reporter.emit(reported)
                done += 1
                progress.update(done)
    finally:
        progress.close()
    summary = builder.build()
    writer.finish(summary)
    return _Outcome(summary, reporter.raw_findings or [])


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
            findings = check(session)
            if raw is not None:
                raw.extend(findings)
            yield reporter.prepare(session, findings)
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _output(options: CheckOptions) -> Iterator[_Target]:
    """Where the report goes; a file is written aside and moved into place when complete."""
    out = options.out
    if out is None:
        yield _Target(_stdout_utf8(), None)
        return
    if out.is_dir():
        raise UsageError(f"--out {out}: is a directory")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    # Half a report under the real name would pass for a whole one.
    temporary = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        if WRITERS[options.format].binary:
            yield _Target(None, temporary)
        else:
            with temporary.open("w", encoding="utf-8", newline="") as stream:
                yield _Target(stream, None)
        os.replace(temporary, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _save(
    engine: Engine,
    options: CheckOptions,
    run: RunInfo,
    outcome: _Outcome,
) -> int:
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
        "complete": run.complete,
        "input_errors": len(run.input_errors),
        "policy_profile": run.policy.meta.profile,
    }
    return save_run(
        engine,
        outcome.raw_findings,
        source="；".join(run.sources),
        policy_name=run.policy_name,
        parameters=parameters,
        sessions_checked=outcome.summary.sessions,
        started_at=run.started_at.astimezone(UTC),
    )


def run_check(args: argparse.Namespace) -> int:
    """Run ``aftersales check`` with parsed arguments; returns the exit status."""
    try:
        options = parse_options(args)
    except UsageError as exc:
        _err(f"{_PROG}: {exc}")
        return EXIT_USAGE
    try:
        policy = load_policy(options.policy)
    except PolicyError as exc:
        _err(f"{_PROG}: policy error: {exc}")
        return EXIT_USAGE
    started_at = datetime.now(UTC)
    engine: Engine | None = None
    stack = contextlib.ExitStack()
    try:
        from compliance.checker import Checker

        # Built before any worker process starts, so the workers inherit it.
        checker = Checker(policy, select=options.select, ignore=options.ignore)
        if options.database:
            engine = _open_engine(options.database)
        data, false_positives = _load(options, engine, checker, stack)
        for error in data.errors:
            _err(str(error))
        run = RunInfo(
            policy=policy,
            sources=data.sources,
            input_errors=tuple(str(e) for e in data.errors),
            started_at=started_at,
        )
        with _output(options) as target:
            outcome = _check_all(checker, options, data, run, false_positives, target)
        if options.save and engine is not None:
            from sqlalchemy.exc import SQLAlchemyError

            try:
                run_id = _save(engine, options, run, outcome)
            except SQLAlchemyError as exc:
                _err(f"{_PROG}: could not save the run: {_first_line(exc)}")
                return EXIT_USAGE
            _err(
                f"{_PROG}: saved check run #{run_id} "
                f"({len(outcome.raw_findings)} findings) to {_describe(options.database)}"
            )
    except UsageError as exc:
        _err(f"{_PROG}: {exc}")
        return EXIT_USAGE
    except PolicyError as exc:
        _err(f"{_PROG}: policy error: {exc}")
        return EXIT_USAGE
    except WorkerFailed as exc:
        _err(f"{_PROG}: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`| head`); nothing more to say to it.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_USAGE
    except OSError as exc:
        _err(f"{_PROG}: cannot write the report: {exc}")
        return EXIT_USAGE
    finally:
        stack.close()  # worker processes, if any; the input read, frozen
        if engine is not None:
            engine.dispose()
    if data.errors:
        return EXIT_USAGE
    return EXIT_FINDINGS if outcome.summary.errors else EXIT_OK


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _describe(url: str | None) -> str:
    from compliance.dbsource import describe_url

    return describe_url(url) if url else ""
