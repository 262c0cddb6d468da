"""Benchmark: ``aftersales check --format json`` on a 1,000,000-message transcript.

The transcript is built from the real JD.com customer-service turns of
``../shared/realdata/jddc/dialogues.jsonl`` (JDDC; evaluation use only, so it
is read here and written to a temporary directory, never into the project):
the 994 sessions are replicated until the wanted number of lines is reached,
each copy with its own session id, channel ``jd``, an engineer from a small
roster, synthetic timestamps on November 2026 days, and some violations put in
on purpose (a missing greeting, late replies, a forbidden phrase, a remote login
without the backup warning, a satisfaction rating), so the rules have work to do.

In one run it then measures

(a) the floor: reading the file with one ``orjson.loads`` per line (the fastest
    parser measured, and the checker's) plus one Aho-Corasick pass over every
    text with an automaton of the policy's forbidden phrases (the least any
    checker must do), in this process; and the same with ``json.loads``, the
    floor of earlier rounds, printed beside it;
(b) the full check, end to end, as a user runs it: ``aftersales check FILE
    --format json --out FILE`` in a subprocess (which checks on every CPU by
    default; ``--jobs 1`` measures one process), with its CPU time and peak RSS:
    the largest process (``wait4``) and all its processes added up (sampled).

and prints the times, the ratio of (b) to the orjson floor (target: at most 2)
and the peak RSS of all the check's processes together (target: under 1 GiB).
With ``--repeat N`` the floors are measured again right before each check, every
pair's ratio is shown,
and the ratio judged is their median (a shared machine's speed drifts).
``--select CODES`` runs only those rules, which shows what reading, the shared
facts and the report cost on their own.
``--timeline`` shows how busy each process of the check was, half a second at a
time.  ``--against REV`` also runs the check of another git revision after each floor
(the two in alternating order) and prints both, to measure a change on a host
whose speed drifts.  ``--profile`` additionally runs the check in this process
under cProfile and prints where the time goes.

    .venv/bin/python bench/bench_check.py                  # 1,000,000 messages
    .venv/bin/python bench/bench_check.py --repeat 3 --select SLA004
    .venv/bin/python bench/bench_check.py --messages 100000 --profile
    .venv/bin/python bench/bench_check.py --repeat 6 --against 02e4239
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

import ahocorasick  # noqa: E402
import orjson  # noqa: E402

from compliance.calendar import SHANGHAI  # noqa: E402
from compliance.matchers import folder_for  # noqa: E402
from compliance.parallel import available_cpus  # noqa: E402
from compliance.policy import Policy, load_policy  # noqa: E402
from compliance.wordlists import load_wordlist  # noqa: E402

# ../shared beside the checkout; a git worktree under a folder of worktrees has it
# one level further up.
DEFAULT_JDDC = next(
    (
        path
        for path in (
            folder / "shared" / "realdata" / "jddc" / "dialogues.jsonl"
            for folder in (REPO.parent, REPO.parent.parent)
        )
        if path.exists()
    ),
    REPO.parent / "shared" / "realdata" / "jddc" / "dialogues.jsonl",
)
TARGET_RATIO = 2.0
TARGET_RSS = 1 << 30

ENGINEERS = [
    ("1818", "张三"),
    ("2046", "李四"),
    ("3001", "王五"),
    ("3002", "赵六"),
    ("3003", "孙琳"),
    ("3004", "周航"),
    ("3005", "吴敏"),
    ("3006", "郑磊"),
    ("3007", "陈静"),
    ("3008", "刘洋"),
]
GREETING = "您好，我是朴赛售后服务中心运维工程师{name}，工号{no}，很高兴为您服务[握手]"
BACKUP = "请您确认下服务器内的数据是否均有备份，重点提示：运维和调试过程都有一定概率的数据丢失风险"
# Violations put into a few agent turns (about 1 in 200 each).
BAD_LINES = [
    "你自己看着办吧，爱修不修",
    "再这样就把你拉黑了",
    "我先挂了，不聊了",
    "麻烦您打开向日葵，把识别码发给我",
]


def load_dialogues(path: Path) -> list[list[tuple[str, str]]]:
    """The JDDC sessions as lists of (role, text)."""
    dialogues: list[list[tuple[str, str]]] = []
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            record = json.loads(raw)
            turns = [
                (turn["role"], turn["text"])
                for turn in record["turns"]
                if turn.get("role") in ("customer", "agent") and turn.get("text")
            ]
            if turns:
                dialogues.append(turns)
    return dialogues


def synthetic_lines(
    dialogues: list[list[tuple[str, str]]], messages: int, seed: int = 20261123
) -> Iterator[dict[str, Any]]:
    """Exactly `messages` transcript records, session after session."""
    rng = random.Random(seed)
    base = datetime(2026, 11, 2, 9, 30, tzinfo=SHANGHAI)
    written = 0
    copy = 0
    while True:
        for number, turns in enumerate(dialogues):
            session = f"JD{copy:03d}-{number:04d}"
            staff_no, name = ENGINEERS[(copy * 7 + number) % len(ENGINEERS)]
            customer = f"jd_{copy}_{number}"
            # Sessions spread over 25 days, starting 09:30–16:30 (attended hours).
            day = (copy * len(dialogues) + number) % 25
            ts = base + timedelta(days=day, seconds=rng.randrange(0, 7 * 3600))
            greet = rng.random() < 0.9  # else SCR001
            warn_backup = rng.random() < 0.1
            records: list[dict[str, Any]] = []
            agent_spoke = False
            for role, text in turns:
                # Most replies within the minute; one in twenty is late (SLA001/SLA002).
                late = rng.random() < 0.05
                ts += timedelta(seconds=rng.randrange(90, 400) if late else rng.randrange(8, 50))
                stamp = ts.isoformat()
                if role == "customer":
                    records.append(
                        {
                            "session": session,
                            "ts": stamp,
                            "role": role,
                            "sender": customer,
                            "text": text,
                        }
                    )
                    continue
                if not agent_spoke:
                    agent_spoke = True
                    if greet:
                        records.append(
                            {
                                "session": session,
                                "ts": stamp,
                                "role": "agent",
                                "sender": staff_no,
                                "name": name,
                                "text": GREETING.format(name=name, no=staff_no),
                            }
                        )
                    if warn_backup:
                        records.append(
                            {
                                "session": session,
                                "ts": stamp,
                                "role": "agent",
                                "sender": staff_no,
                                "text": BACKUP,
                            }
                        )
                if rng.random() < 0.02:
                    text = text + "，" + rng.choice(BAD_LINES)
                records.append(
                    {
                        "session": session,
                        "ts": stamp,
                        "role": "agent",
                        "sender": staff_no,
                        "text": text,
                    }
                )
            if rng.random() < 0.3:
                ts += timedelta(seconds=30)
                records.append(
                    {
                        "session": session,
                        "ts": ts.isoformat(),
                        "role": "event",
                        "event": "satisfaction_rated",
                        "rating": rng.choice(["很满意", "很满意", "满意", "一般", "不满意"]),
                    }
                )
            records[0]["channel"] = "jd"
            for record in records:
                yield record
                written += 1
                if written >= messages:
                    return
        copy += 1


def write_transcript(path: Path, dialogues: list[list[tuple[str, str]]], messages: int) -> int:
    """Write the synthetic transcript; returns its size in bytes."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    with path.open("w", encoding="utf-8") as fh:
        for record in synthetic_lines(dialogues, messages):
            fh.write(dumps(record) + "\n")
    return path.stat().st_size


def forbidden_automaton(policy: Policy) -> tuple[ahocorasick.Automaton, int]:
    """One automaton of every forbidden phrase of the policy (and its word lists), folded."""
    folder = folder_for(policy)
    automaton = ahocorasick.Automaton()
    keys: set[str] = set()
    for forbidden in policy.forbidden.values():
        words = list(forbidden.phrases)
        for name in forbidden.wordlists:
            words.extend(w for w in load_wordlist(name) if len(w) > 1)
        for word in words:
            key = folder.normalize(word)
            if key:
                keys.add(key)
    for key in keys:
        automaton.add_word(key, key)
    automaton.make_automaton()
    return automaton, len(keys)


def measure_floor(
    path: Path, automaton: ahocorasick.Automaton, loads: Callable[[bytes], Any] = orjson.loads
) -> tuple[float, int, int]:
    """Seconds to parse every line with `loads` and scan every text once; lines and
    hits seen."""
    scan = automaton.iter
    lines = hits = 0
    started = time.perf_counter()
    with path.open("rb") as fh:
        for raw in fh:
            record = loads(raw)
            lines += 1
            text = record.get("text")
            if text:
                for _hit in scan(text):
                    hits += 1
    return time.perf_counter() - started, lines, hits


def check_command() -> list[str]:
    """How a user runs the checker here: the installed script, else the module."""
    script = shutil.which("aftersales")
    venv_script = Path(sys.executable).with_name("aftersales")
    if venv_script.exists():
        return [str(venv_script)]
    if script:
        return [script]
    return [sys.executable, "-m", "bot.cli"]


@dataclass(frozen=True, order=True)
class CheckRun:
    """One run of the full check."""

    seconds: float
    cpu_seconds: float
    """User + system time of the check and its worker processes."""
    max_rss: int
    """Peak RSS of the largest single process (bytes, from wait4)."""
    tree_rss: int
    """Peak of the RSS of the check and its workers added up (sampled every 50 ms)."""
    status: int
    samples: tuple[tuple[float, dict[int, float]], ...] = field(default=(), compare=False)
    """Seconds from the start and the CPU seconds used so far by each process of the
    check (the first pid is the check itself), every 50 ms (Linux /proc)."""


def _tree_sample(root: int) -> tuple[int, dict[int, float]]:
    """RSS in bytes of `root` and its descendants added up, and each one's CPU
    seconds so far (Linux /proc; nothing for a process that is gone)."""
    page = os.sysconf("SC_PAGE_SIZE")
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    cpu: dict[int, float] = {}
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * page
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            with open(f"/proc/{pid}/task/{pid}/children", "rb") as fh:
                pending.extend(int(child) for child in fh.read().split())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return total, cpu


def timeline(run: CheckRun, step: float = 0.5) -> list[str]:
    """How busy each process of the check was, `step` seconds at a time: the check
    itself first, then its workers in the order they appeared."""
    if not run.samples:
        return ["(no samples: /proc is not readable here)"]
    order: list[int] = []
    for _at, cpu in run.samples:
        order.extend(pid for pid in cpu if pid not in order)
    names = {pid: "check" if n == 0 else f"worker {n}" for n, pid in enumerate(order)}
    rows: list[str] = []
    previous_at, previous = 0.0, {pid: 0.0 for pid in order}
    for at, cpu in run.samples:
        if at - previous_at < step and (at, cpu) != run.samples[-1]:
            continue
        span = at - previous_at
        busy = []
        for pid in order:
            if pid in cpu:
                used = cpu[pid] - previous.get(pid, 0.0)
                busy.append(f"{names[pid]} {min(100.0, 100 * used / span):3.0f}%")
                previous[pid] = cpu[pid]
        rows.append(f"  {previous_at:5.1f}–{at:5.1f} s  " + "  ".join(busy))
        previous_at = at
    return rows


def measure_check(
    path: Path, out: Path, jobs: int | None, select: str | None = None, tree: Path | None = None
) -> CheckRun:
    """The full check in a subprocess: time, CPU time, peak memory, exit status.

    `tree`: run the code of that source tree (``python -m bot.cli`` with it first on
    the path) instead of this checkout as installed."""
    program = check_command() if tree is None else [sys.executable, "-m", "bot.cli"]
    command = [*program, "check", str(path), "--format", "json", "--out", str(out)]
    command.append("--no-progress")
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    if select is not None:
        command += ["--select", select]
    source = tree or REPO
    env = dict(os.environ, PYTHONPATH=str(source) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=source, env=env, stderr=subprocess.PIPE)
    tree_peak = 0
    samples: list[tuple[float, dict[int, float]]] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        while not stop.wait(0.05):
            rss, cpu = _tree_sample(process.pid)
            tree_peak = max(tree_peak, rss)
            if cpu:
                samples.append((time.perf_counter() - started, cpu))

    sampler = threading.Thread(target=sample, daemon=True)
    if sys.platform.startswith("linux"):
        sampler.start()
    # wait4 gives this child's resource usage, its waited-for workers' CPU time
    # included; ru_maxrss (KiB on Linux) is that of the largest single process.
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stop.set()
    if sampler.is_alive():
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
    if process.returncode not in (0, 1):
        raise SystemExit(f"check failed with status {process.returncode}:\n{stderr[-2000:]}")
    max_rss = usage.ru_maxrss * 1024
    return CheckRun(
        seconds=elapsed,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss=max_rss,
        tree_rss=max(tree_peak, max_rss),
        status=process.returncode,
        samples=tuple(samples),
    )


def profile_check(path: Path, out: Path, top: int) -> str:
    """Run the check in this process under cProfile; the top functions by own and total time."""
    from bot.cli import main

    profiler = cProfile.Profile()
    profiler.enable()
    main(["check", str(path), "--format", "json", "--out", str(out), "--no-progress"])
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buffer.getvalue()


def breakdown(path: Path, policy: Policy) -> list[tuple[str, float]]:
    """Seconds per stage of the check, in this process, without a profiler's distortion:
    reading, the shared per-session facts, each rule, and the reporting (JSON to null)."""
    from compliance.checker import Checker
    from compliance.reader import read_transcripts
    from compliance.reports import make_writer
    from compliance.reports.summary import RunInfo, SummaryBuilder
    from compliance.rules.facts import SessionFacts
    from compliance.run import SessionReporter

    clock = time.perf_counter
    started = clock()
    read = read_transcripts([path])
    stages: dict[str, float] = {"read_transcripts": clock() - started, "facts": 0.0}
    checker = Checker(policy)
    context = checker.context
    rules = [(rule, f"rule {rule.code}") for rule in checker.rules]
    for _rule, label in rules:
        stages[label] = 0.0
    stages["report (mask, score, summary, json)"] = 0.0
    report_label = "report (mask, score, summary, json)"
    run = RunInfo(policy=policy, sources=(str(path),), rules=checker.codes)
    gc.freeze()  # as the check does before checking what it read (compliance.run)
    with open(os.devnull, "w", encoding="utf-8") as sink:
        writer = make_writer("json", stream=sink)
        builder = SummaryBuilder(run)
        reporter = SessionReporter(policy, writer, builder)
        writer.begin(run)
        for session in read.sessions:
            start = clock()
            facts = SessionFacts(session, context)  # once per session, shared by the rules
            stages["facts"] += clock() - start
            findings: list[Any] = []
            for rule, label in rules:
                start = clock()
                findings.extend(rule.check(session, facts, context))
                stages[label] += clock() - start
            start = clock()
            reporter.add(session, findings)
            stages[report_label] += clock() - start
        start = clock()
        writer.finish(builder.build())
        stages[report_label] += clock() - start
    gc.unfreeze()
    return sorted(stages.items(), key=lambda item: -item[1])


def add_worktree(revision: str, where: Path) -> Path:
    """A detached git worktree of this repository at `revision` (see `remove_worktree`)."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), revision],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{revision}: {done.stderr.strip() or 'git worktree add failed'}")
    return where


def remove_worktree(where: Path) -> None:
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)],
        check=False,
        capture_output=True,
    )


def _compare(revision: str, pairs: list[tuple[float, CheckRun]], other: list[CheckRun]) -> None:
    """Each row: the floor, then this checkout's check and REV's, with their ratios."""
    print(f"this checkout against {revision}, each row after the same floor:")
    changes: list[float] = []
    for (floor, this), then in zip(pairs, other, strict=True):
        change = this.seconds / then.seconds - 1
        changes.append(change)
        print(
            f"  floor {floor:.2f} s | this {this.seconds:.2f} s ({this.seconds / floor:.2f}×, "
            f"CPU {this.cpu_seconds / floor:.2f}×) | {revision} {then.seconds:.2f} s "
            f"({then.seconds / floor:.2f}×, CPU {then.cpu_seconds / floor:.2f}×) | {change:+.0%}"
        )
    this_ratio = statistics.median(run.seconds / f for f, run in pairs)
    then_ratio = statistics.median(
        run.seconds / f for (f, _), run in zip(pairs, other, strict=True)
    )
    print(
        f"  wall time {min(changes):+.0%} to {max(changes):+.0%} (median "
        f"{statistics.median(changes):+.0%}); median ratio {this_ratio:.2f} against "
        f"{then_ratio:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="transcript lines")
    parser.add_argument("--jddc", type=Path, default=DEFAULT_JDDC, help="JDDC dialogues.jsonl")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run (b) this many times and keep the best"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="--jobs for the check (default: the check's own choice, one per CPU)",
    )
    parser.add_argument(
        "--select",
        metavar="CODES",
        help="--select for the check: run only these rules (measures what reading, "
        "the shared facts and the report cost without the other rules)",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also run the check of git revision REV (a temporary worktree) after each "
        "floor, the two checks in alternating order, and compare: on a shared host only "
        "runs that share the machine's state can be compared",
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="also show how busy each process of the fastest check was, half a second "
        "at a time (sampled from /proc)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile the check")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time each stage and rule in-process"
    )
    args = parser.parse_args(argv)
    if args.messages <= 0:
        parser.error("--messages must be positive")
    if args.repeat <= 0:
        parser.error("--repeat must be positive")
    if not args.jddc.exists():
        print(f"JDDC data not found at {args.jddc}: nothing to benchmark", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="aftersales-bench-"))
    try:
        transcript = workdir / "transcript.jsonl"
        report = workdir / "report.json"
        started = time.perf_counter()
        dialogues = load_dialogues(args.jddc)
        size = write_transcript(transcript, dialogues, args.messages)
        print(
            f"transcript: {args.messages:,} lines, {size / 2**20:.1f} MiB from "
            f"{len(dialogues)} JDDC sessions ({time.perf_counter() - started:.1f} s to build)"
        )
        policy = load_policy()
        automaton, phrases = forbidden_automaton(policy)
        # The floor is measured right before each check, so that a pair shares the
        # machine's mood: on a shared host speed drifts by a third over minutes.  One
        # extra floor first warms the page cache for both.
        measure_floor(transcript, automaton)
        against = add_worktree(args.against, workdir / "against") if args.against else None
        pairs: list[tuple[float, CheckRun]] = []
        json_floors: list[float] = []
        other: list[CheckRun] = []
        for number in range(args.repeat):
            json_floors.append(measure_floor(transcript, automaton, json.loads)[0])
            floor_seconds, lines, hits = measure_floor(transcript, automaton)
            if against is None:
                pairs.append(
                    (floor_seconds, measure_check(transcript, report, args.jobs, args.select))
                )
                continue
            # This checkout and REV after the same floor, the order swapped every row.
            both: dict[str, CheckRun] = {}
            for side in ("this", "against") if number % 2 == 0 else ("against", "this"):
                # Both started the same way: python -m bot.cli from their own tree.
                tree = against if side == "against" else REPO
                out = report if side == "this" else workdir / "against.json"
                both[side] = measure_check(transcript, out, args.jobs, args.select, tree)
            pairs.append((floor_seconds, both["this"]))
            other.append(both["against"])
        if against is not None:
            _compare(args.against, pairs, other)
        floor = min(f for f, _run in pairs)
        runs = [run for _f, run in pairs]
        print(
            f"(a) floor, orjson.loads per line + one Aho-Corasick pass ({phrases} phrases): "
            f"{floor:.2f} s, best of {args.repeat} ({lines:,} lines, {hits:,} raw hits)"
        )
        print(
            f"    the same with json.loads: {min(json_floors):.2f} s, best of {args.repeat} "
            f"(orjson's floor is {min(json_floors) / floor:.2f}× faster)"
        )
        best_run = min(runs)
        check, status = best_run.seconds, best_run.status
        rss = max(run.tree_rss for run in runs)
        with report.open(encoding="utf-8") as fh:
            summary = json.load(fh)["summary"]
        best = f", best of {args.repeat}" if args.repeat > 1 else ""
        options = "" if args.jobs is None else f" --jobs {args.jobs}"
        options += "" if args.select is None else f" --select {args.select}"
        print(
            f"(b) aftersales check --format json{options}: {check:.2f} s{best}, exit {status}, "
            f"{summary['sessions']:,} sessions, {summary['findings']:,} findings, "
            f"report {report.stat().st_size / 2**20:.1f} MiB"
        )
        # The ratio judged is the median of the pairs: the best check over the best
        # floor would divide figures taken minutes apart on a machine whose speed drifts.
        ratios = sorted(run.seconds / f for f, run in pairs)
        ratio = statistics.median(ratios)
        if args.repeat > 1:
            paired = ", ".join(f"{run.seconds / f:.2f}" for f, run in pairs)
            print(f"ratio of each pair (floor measured just before its check): {paired}")
            print(
                f"ratio (b)/(a), median of the pairs: {ratio:.2f} (best pair {ratios[0]:.2f}; "
                f"best check over best floor {check / floor:.2f}; target ≤ {TARGET_RATIO:g})"
            )
        else:
            print(f"ratio (b)/(a): {ratio:.2f} (target ≤ {TARGET_RATIO:g})")
        json_ratio = statistics.median(
            run.seconds / f for f, (_, run) in zip(json_floors, pairs, strict=True)
        )
        print(f"ratio (b) to the json.loads floor, median of the pairs: {json_ratio:.2f}")
        print(
            f"CPU time of (b): {best_run.cpu_seconds:.2f} s on {available_cpus()} CPUs "
            f"({best_run.cpu_seconds / floor:.2f}× the floor)"
        )
        print(
            f"peak RSS of (b), all its processes together: {rss / 2**20:.0f} MiB "
            f"(target < {TARGET_RSS / 2**20:.0f} MiB; largest single process "
            f"{max(run.max_rss for run in runs) / 2**20:.0f} MiB)"
        )
        by_rule = ", ".join(f"{r['code']} {r['count']:,}" for r in summary["by_rule"])
        print(f"findings by rule: {by_rule}")
        if args.timeline:
            print(f"timeline of the fastest check ({best_run.seconds:.2f} s):")
            print("\n".join(timeline(best_run)))
        if args.breakdown:
            stages = breakdown(transcript, policy)
            total = sum(seconds for _label, seconds in stages)
            print(f"in-process breakdown ({total:.2f} s in all):")
            for label, seconds in stages:
                print(
                    f"  {label:<38} {seconds:7.2f} s  {seconds / total:6.1%}  "
                    f"{seconds / floor:5.2f}× floor"
                )
        if args.profile:
            print(profile_check(transcript, workdir / "profiled.json", args.top))
        met = ratio <= TARGET_RATIO and rss < TARGET_RSS
        print("targets met" if met else "TARGETS MISSED")
        return 0 if met else 1
    finally:
        if args.against and (workdir / "against").exists():
            remove_worktree(workdir / "against")
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
