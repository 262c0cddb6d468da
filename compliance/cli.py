"""``aftersales check``: the command line of the checker, and what it prints.

`run_check(args)` takes the namespace `bot.cli` parsed (SPEC §3), validates it
into `CheckOptions`, hands the work to `compliance.run.run`, and returns the exit
status: 0 no finding of severity error, 1 findings of severity error, 2 a usage
or input error.  Bad input lines are printed to stderr as ``FILE:LINE: problem``;
the good sessions are still checked and reported, but the report says it is
incomplete and the status is 2.  Every problem is one line on stderr that says
what to fix, never a traceback.

The report goes to stdout (UTF-8 whatever the locale; colour on a terminal for
the text format) or to ``--out FILE``, written aside and moved into place when
complete; a progress bar on stderr shows the way when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from compliance.checker import SessionCheckFailed, describe_error
from compliance.codes import expand_selection
from compliance.model import FIRST_YEAR, LAST_YEAR
from compliance.options import CheckOptions, UsageError
from compliance.parallel import WorkerFailed
from compliance.policy import PolicyError, load_policy
from compliance.progress import Progress
from compliance.reports import FORMATS, WRITERS
from compliance.run import ReportTarget, run

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "CheckOptions",
    "UsageError",
    "parse_options",
    "run_check",
]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

_PROG = "aftersales check"


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
    for flag, day in (("--since", since), ("--until", until)):
        if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise UsageError(f"{flag} {day}: outside the years {FIRST_YEAR}–{LAST_YEAR}")
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


def run_check(args: argparse.Namespace) -> int:
    """Run ``aftersales check`` with parsed arguments; returns the exit status."""
    try:
        options = parse_options(args)
    except UsageError as exc:
        _err(f"{_PROG}: {exc}")
        return EXIT_USAGE

    def progress(total: int, label: str) -> Progress:
        if options.progress and sys.stderr.isatty():
            return Progress(total, sys.stderr, label)
        return Progress.disabled()

    try:
        policy = load_policy(options.policy)
        outcome = run(
            options,
            policy,
            output=lambda: _output(options),
            progress=progress,
            notice=_err,
        )
    except UsageError as exc:
        _err(f"{_PROG}: {exc}")
        return EXIT_USAGE
    except PolicyError as exc:
        _err(f"{_PROG}: policy error: {exc}")
        return EXIT_USAGE
    except (WorkerFailed, SessionCheckFailed) as exc:
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
    except KeyboardInterrupt:
        _err(f"{_PROG}: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a defect: said in one line, never as a traceback
        _err(f"{_PROG}: internal error, please report it: {describe_error(exc)}")
        return EXIT_USAGE
    if outcome.saved_run is not None:
        _err(
            f"{_PROG}: saved check run #{outcome.saved_run} "
            f"({len(outcome.raw_findings)} findings) to {_describe(options.database)}"
        )
    if outcome.input_errors:
        return EXIT_USAGE
    return EXIT_FINDINGS if outcome.summary.errors else EXIT_OK


def _err(message: str) -> None:
    print(message, file=sys.stderr)


@contextlib.contextmanager
def _output(options: CheckOptions) -> Iterator[ReportTarget]:
    """Where the report goes; a file is written aside and moved into place when complete."""
    out = options.out
    if out is None:
        yield ReportTarget(_stdout_utf8(), None, color=_use_colour(options))
        return
    if out.is_dir():
        raise UsageError(f"--out {out}: is a directory")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    # Half a report under the real name would pass for a whole one.
    temporary = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        if WRITERS[options.format].binary:
            yield ReportTarget(None, temporary)
        else:
            with temporary.open("w", encoding="utf-8", newline="") as stream:
                yield ReportTarget(stream, None)
        os.replace(temporary, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


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


def _describe(url: str | None) -> str:
    from compliance.dbsource import describe_url

    return describe_url(url) if url else ""
