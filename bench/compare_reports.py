"""Compare the reports of ``aftersales check`` at two git revisions, byte for byte.

A refactoring, or a change of the transcript parser, must not change one byte of
any report.  This builds `bench_check.py`'s transcript (1,000,000 lines from the
real JD.com sessions of ``../shared/realdata/jddc/dialogues.jsonl``, written to a
temporary directory and never into the project), checks it with the code of each
revision in every ``--format`` (text, json, csv, html, xlsx), in one process and
on every CPU, and compares the report files, the exit statuses and what was
printed on stderr.

The HTML and XLSX reports carry the time of the run, and an XLSX file (a zip) the
time each member was written: each check runs with the clock frozen at one instant
(``time.time``, ``datetime.now`` and the file times a zip records, patched
before the code under test is imported), so two runs of the same code write the
same bytes.  A revision is checked out into a temporary git worktree and run from its own tree
(``python -m bot.cli`` with it first on the path); ``WORKTREE`` is this checkout
as it stands, uncommitted changes included.

    .venv/bin/python bench/compare_reports.py main            # main against this checkout
    .venv/bin/python bench/compare_reports.py 5a5dcb9 HEAD --messages 200000
    .venv/bin/python bench/compare_reports.py main --format json --jobs 1

Exit status 0 when every report is the same bytes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from bench_check import (  # noqa: E402
    DEFAULT_JDDC,
    add_worktree,
    load_dialogues,
    remove_worktree,
    write_transcript,
)

from compliance.reports import FORMATS  # noqa: E402

WORKTREE = "WORKTREE"
FROZEN_AT = 1795401723  # 2026-11-23 09:22:03 +08:00

# Runs `bot.cli.main(argv)` of the tree given first, with the clock frozen.  A
# subclass replaces datetime.datetime before anything imports it, so every
# `datetime.now` (the run's start, openpyxl's document times) reads the frozen
# instant; `time.time` and `ZipInfo.from_file` cover the zip members' times (openpyxl
# adds its worksheets from temporary files, with their modification times).
_FROZEN_RUN = """
import datetime, sys, time
frozen = float(sys.argv[1])
real = datetime.datetime
class FrozenDatetime(real):
    @classmethod
    def now(cls, tz=None):
        return cls.fromtimestamp(frozen, tz)
datetime.datetime = FrozenDatetime
time.time = lambda: frozen
import zipfile
from_file = zipfile.ZipInfo.from_file.__func__
def frozen_from_file(cls, *args, **kwargs):
    info = from_file(cls, *args, **kwargs)
    info.date_time = time.localtime(frozen)[:6]
    return info
zipfile.ZipInfo.from_file = classmethod(frozen_from_file)
sys.path.insert(0, sys.argv[2])
from bot.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _tree(revision: str, where: Path) -> Path:
    """The source tree of `revision`: this checkout, or a detached worktree of it."""
    return REPO if revision == WORKTREE else add_worktree(revision, where)


def _describe(revision: str) -> str:
    if revision == WORKTREE:
        return "this checkout"
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", revision],
        capture_output=True,
        text=True,
    )
    return f"{revision} ({done.stdout.strip()})" if done.returncode == 0 else revision


def run_check(
    tree: Path, transcript: Path, fmt: str, jobs: int, out: Path
) -> tuple[int, bytes, float]:
    """One frozen-clock check of `transcript` by the code of `tree`: exit status,
    stderr, seconds."""
    argv = ["check", str(transcript), "--format", fmt, "--out", str(out), "--no-progress"]
    argv += ["--jobs", str(jobs)]
    command = [sys.executable, "-c", _FROZEN_RUN, str(FROZEN_AT), str(tree), *argv]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, capture_output=True)
    return done.returncode, done.stderr, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="git revision to compare against (e.g. main)")
    parser.add_argument(
        "after", nargs="?", default=WORKTREE, help=f"git revision, or {WORKTREE} (the default)"
    )
    parser.add_argument("--messages", type=int, default=1_000_000, help="transcript lines")
    parser.add_argument("--jddc", type=Path, default=DEFAULT_JDDC, help="JDDC dialogues.jsonl")
    parser.add_argument(
        "--format", action="append", choices=FORMATS, help="only this format (repeatable)"
    )
    parser.add_argument(
        "--jobs",
        action="append",
        type=int,
        help="--jobs of the checks (repeatable; default 1 and 2: one process, and two workers)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if not args.jddc.exists():
        print(f"JDDC data not found at {args.jddc}: nothing to compare", file=sys.stderr)
        return 2
    formats = args.format or list(FORMATS)
    # Stopped with kill: still remove the worktrees and the transcript (SystemExit
    # runs the `finally` below, and subprocess.run kills the check it waits for).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(1))
    jobs_list = args.jobs or [1, 2]
    workdir = Path(tempfile.mkdtemp(prefix="aftersales-compare-"))
    worktrees: list[Path] = []
    try:
        transcript = workdir / "transcript.jsonl"
        size = write_transcript(transcript, load_dialogues(args.jddc), args.messages)
        print(f"transcript: {args.messages:,} lines, {size / 2**20:.1f} MiB")
        trees = {}
        for side, revision in (("before", args.before), ("after", args.after)):
            tree = _tree(revision, workdir / side)
            if tree != REPO:
                worktrees.append(tree)
            trees[side] = tree
        print(f"before: {_describe(args.before)}; after: {_describe(args.after)}")
        differences = 0
        for fmt in formats:
            for jobs in jobs_list:
                results = {}
                for side, tree in trees.items():
                    out = workdir / f"{side}-jobs{jobs}.{fmt}"
                    results[side] = (out, *run_check(tree, transcript, fmt, jobs, out))
                (out_a, status_a, err_a, secs_a) = results["before"]
                (out_b, status_b, err_b, secs_b) = results["after"]
                problems = []
                if status_a != status_b:
                    problems.append(f"exit {status_a} against {status_b}")
                if status_a not in (0, 1):
                    problems.append(f"before failed: {err_a.decode(errors='replace')[-500:]}")
                if status_b not in (0, 1):
                    problems.append(f"after failed: {err_b.decode(errors='replace')[-500:]}")
                if err_a != err_b:
                    problems.append("stderr differs")
                if not (out_a.exists() and out_b.exists()):
                    problems.append("a report is missing")
                elif not filecmp.cmp(out_a, out_b, shallow=False):
                    problems.append("report bytes differ")
                size_b = out_b.stat().st_size if out_b.exists() else 0
                verdict = "same bytes" if not problems else "DIFFERENT: " + "; ".join(problems)
                print(
                    f"  --format {fmt:<4} --jobs {jobs}: {verdict} "
                    f"({size_b / 2**20:.1f} MiB, exit {status_b}; {secs_a:.1f} s / {secs_b:.1f} s)"
                )
                differences += bool(problems)
                if not args.keep:
                    for path in (out_a, out_b):
                        path.unlink(missing_ok=True)
        print("every report is the same bytes" if not differences else f"{differences} differ")
        return 0 if not differences else 1
    finally:
        for tree in worktrees:
            remove_worktree(tree)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
