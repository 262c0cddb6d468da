"""Checking on several cores gives what one process gives, in every format.

The corpus is every golden case of every rule (tests/compliance/cases), spread
over three files with the lines of each session scattered between them, plus
awkward lines: numeric and escaped session ids, a "session" key inside another
field, repeated keys, bad JSON, bad UTF-8, a byte-order mark, blank lines, a
session that never names its channel.  Reading in parts splits the bytes, so the
lines of a session land in several parts and are handed to the first of them.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.cli import main
from compliance import cli as check_cli
from compliance import run as check_run
from compliance.cli import parse_options
from compliance.parallel import AUTO_MIN_BYTES, auto_jobs, fork_available
from compliance.reader import ReadPlan, read_parts, read_transcripts
from tests.compliance.test_rules import CASE_FILES

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs the fork start method")

GREETING = "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]"


def _case_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    number = 0
    for code, data in CASE_FILES.items():
        for case in data["cases"]:
            if case.get("policy") or case.get("select"):
                continue  # those need their own policy or selection
            number += 1
            # Every third session has a numeric id (SPEC allows an integer).
            session: str | int = 900000 + number if number % 3 == 0 else f"{code}-{number}"
            for line in case["lines"]:
                record = {key: value for key, value in line.items() if not key.startswith("x-")}
                record["session"] = session
                records.append(record)
    return records


def _awkward_lines() -> list[str]:
    def line(**fields: Any) -> str:
        return json.dumps(fields, ensure_ascii=False)

    customer = {"channel": "web", "role": "customer", "sender": "c1", "text": "服务器坏了"}
    agent = {"role": "agent", "sender": "1818", "name": "张三", "text": GREETING}
    return [
        # An escaped id on one line, the same id plain on the next: one session.
        '{"session": "ESC\\u0041PE", "ts": "2026-11-23T09:00:00+08:00", "channel": "web", '
        '"role": "customer", "sender": "c1", "text": "你们这什么破服务"}',
        line(session="ESCAPE", ts="2026-11-23T09:00:30+08:00", **agent),
        # "session" also inside another field, and as a value.
        line(session="NEST", ts="2026-11-23T09:01:00+08:00", meta={"session": "OTHER"}, **customer),
        line(session="NEST", ts="2026-11-23T09:01:10+08:00", note="session", **agent),
        # The key twice: JSON takes the last one.
        '{"session": "DUP-A", "session": "DUP-B", "ts": "2026-11-23T09:02:00+08:00", '
        '"channel": "web", "role": "customer", "sender": "c1", "text": "在吗"}',
        line(session="DUP-B", ts="2026-11-23T09:02:05+08:00", **agent),
        # A "session" key spelled with an escape.
        '{"sess\\u0069on": "KEYESC", "ts": "2026-11-23T09:03:00+08:00", "channel": "web", '
        '"role": "customer", "sender": "c1", "text": "你好"}',
        line(session="KEYESC", ts="2026-11-23T09:03:30+08:00", **agent),
        # Bad lines: not JSON, not an object, missing/empty session, bad time, "-0".
        '{"session": "BROKEN", "ts": ',
        "[1, 2, 3]",
        line(ts="2026-11-23T09:04:00+08:00", **customer),
        line(session="", ts="2026-11-23T09:04:00+08:00", **customer),
        line(session="BADTS", ts="yesterday", **customer),
        '{"session": -0, "ts": "2026-11-23T09:05:00+08:00", "channel": "web", '
        '"role": "customer", "sender": "c1", "text": "负零"}',
        line(session=0, ts="2026-11-23T09:05:30+08:00", **agent),  # the same session as -0
        "",
        "   ",
        # A session that never names its channel.
        line(session="NOCHAN", ts="2026-11-23T09:06:00+08:00", role="customer", text="喂"),
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    lines = [json.dumps(r, ensure_ascii=False) for r in _case_records()] + _awkward_lines()
    random.Random(20261122).shuffle(lines)  # sessions interleave across the files
    files: list[list[bytes]] = [[], [], []]
    for number, text in enumerate(lines):
        files[number % 3].append(text.encode("utf-8"))
    files[1].insert(0, b"\xef\xbb\xbf" + files[1].pop(0))  # a byte-order mark
    files[2].insert(5, b'{"session": "UTF", "text": "\xff\xfe"}')  # not UTF-8
    for number, content in enumerate(files):
        (folder / f"part{number}.jsonl").write_bytes(b"\n".join(content) + b"\n")
    # Saved as "Unicode" by Notepad: one error for the whole file, between the others.
    (folder / "part1w.jsonl").write_bytes(("\n".join(lines[:3]) + "\n").encode("utf-16"))
    return folder


def _merged(reads: list[Any]) -> tuple[list[Any], list[str]]:
    """The sessions and errors of reads in parts, in the order of one whole read."""
    sessions = sorted(
        ((seen, s) for r in reads for seen, s in zip(r.first_seen, r.sessions, strict=True)),
        key=lambda item: item[0],
    )
    errors = sorted(
        ((key, error) for r in reads for key, error in zip(r.error_keys, r.errors, strict=True)),
        key=lambda item: item[0],
    )
    return [s for _seen, s in sessions], [str(e) for _key, e in errors]


@pytest.mark.parametrize("parts", [2, 3, 5, 8])
def test_parts_cover_the_whole_read_exactly_once(corpus: Path, parts: int) -> None:
    whole = read_transcripts([corpus])
    reads = read_parts([corpus], parts)
    sessions, errors = _merged(reads)
    assert sessions == whole.sessions  # same lines (origins too), same order
    assert errors == [str(e) for e in whole.errors]
    assert sum(r.lines for r in reads) == whole.lines
    ids = [s.id for r in reads for s in r.sessions]
    assert len(ids) == len(set(ids))  # every session whole, in one part
    assert all(r.sessions for r in reads)  # the bytes are shared out


# Sessions interleaved; A names its channel on its first line only, B not before
# its third (its first two lines take that one), C changes channel half-way (the
# lines after the change inherit the new one); a bad line, bad UTF-8, and a session
# that never names a channel.
_SPLIT_LINES = [
    b'\xef\xbb\xbf{"session": "A", "channel": "web", "ts": "2026-11-23T09:00:00+08:00", '
    b'"role": "customer", "text": "\xe5\x9c\xa8\xe5\x90\x97"}',
    b'{"session": "B", "ts": "2026-11-23T09:00:01+08:00", "role": "customer", "text": "b1"}',
    b'{"session": "A", "ts": "2026-11-23T09:00:02+08:00", "role": "agent", "sender": "1818", '
    b'"name": "\xe5\xbc\xa0\xe4\xb8\x89", "text": "a2"}',
    b'{"session": "C", "channel": "jd", "ts": "2026-11-23T09:00:03+08:00", "role": "customer", '
    b'"text": "c1"}',
    b"",
    b'{"session": "B", "ts": "2026-11-23T09:00:04+08:00", "role": "agent", "sender": "1818", '
    b'"text": "b2"}',
    b'{"session": "A", "ts": "2026-11-23T09:00:05", "role": "customer", "text": "a3"}',
    b'{"session": "C", "ts": "2026-11-23T09:00:06+08:00", "role": "agent", "sender": "1818", '
    b'"text": "c2"}',
    b'{"session": "B", "channel": "qianniu", "ts": "2026-11-23T09:00:07+08:00", '
    b'"role": "customer", "text": "b3"}',
    b'{"session": "X", "ts": ',
    b'{"session": "C", "channel": "wecom", "ts": "2026-11-23T09:00:08+08:00", '
    b'"role": "customer", "text": "c3"}',
    b'{"session": "N", "ts": "2026-11-23T09:00:09+08:00", "role": "customer", "text": "n"}',
    b'{"session": "A", "ts": "2026-11-23T09:00:10+08:00", "role": "agent", "sender": "1818", '
    b'"text": "a4"}',
    b'{"session": "U", "channel": "web", "ts": "2026-11-23T09:00:11+08:00", "role": "customer", '
    b'"text": "\xff"}',
    b'{"session": "C", "ts": "2026-11-23T09:00:12+08:00", "role": "agent", "sender": "1818", '
    b'"text": "c4"}',
    b'{"session": "B", "ts": "2026-11-23T09:00:13+08:00", "role": "agent", "sender": "1818", '
    b'"text": "b4"}',
]


@pytest.mark.parametrize("pad_first", [False, True])
def test_a_split_anywhere_reads_like_one_reader(tmp_path: Path, pad_first: bool) -> None:
    # A file of blank lines beside the transcript moves the split point byte by
    # byte through every line of it: inside a line, on its break, at its start.
    transcript = tmp_path / "b_transcript.jsonl"
    transcript.write_bytes(b"\n".join(_SPLIT_LINES) + b"\n")
    pad = tmp_path / ("a_pad.jsonl" if pad_first else "c_pad.jsonl")
    pad.write_bytes(b"")
    whole = read_transcripts([tmp_path])
    assert {s.id: {line.channel for line in s.lines} for s in whole.sessions} == {
        "A": {"web"},
        "B": {"qianniu"},
        "C": {"jd", "wecom"},
    }
    assert [line.channel for line in whole.sessions[2].lines] == ["jd", "jd", "wecom", "wecom"]
    assert len(whole.errors) == 3  # bad JSON, bad UTF-8, N names no channel
    size = transcript.stat().st_size
    for padding in range(0, 2 * size + 2, 2):
        pad.write_bytes(b"\n" * padding)
        expected = read_transcripts([tmp_path])
        for parts in (2, 3):
            reads = read_parts([tmp_path], parts)
            sessions, errors = _merged(reads)
            assert sessions == expected.sessions, (padding, parts)
            assert errors == [str(e) for e in expected.errors], (padding, parts)
            assert sum(r.lines for r in reads) == expected.lines


def test_lines_added_while_reading_are_read_once(tmp_path: Path) -> None:
    path = tmp_path / "growing.jsonl"
    path.write_bytes(b"\n".join(_SPLIT_LINES[:4]) + b"\n")
    other = tmp_path / "more.jsonl"
    other.write_bytes(b"\n".join(_SPLIT_LINES[4:8]) + b"\n")
    plan = ReadPlan.of([path, other])  # the sizes are taken now
    with path.open("ab") as fh:  # a log still being written
        fh.write(b"\n".join(_SPLIT_LINES[8:]) + b"\n")
    whole = read_transcripts([path, other])
    for parts in (2, 3, 4):
        sessions, errors = _merged(plan.read_in_parts(parts))
        assert sessions == whole.sessions
        assert errors == [str(e) for e in whole.errors]


def test_a_file_gone_or_failing_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "a.jsonl"
    first.write_bytes(b"\n".join(_SPLIT_LINES) + b"\n")
    gone = tmp_path / "b.jsonl"
    gone.write_bytes(b"\n".join(_SPLIT_LINES) + b"\n")
    plan = ReadPlan.of([tmp_path])
    gone.unlink()  # between taking the sizes and reading: every part fails to open it
    for parts in (1, 2, 3):
        _sessions, errors = _merged(plan.read_in_parts(parts))
        assert [e for e in errors if "cannot read" in e] == [
            f"{gone}: cannot read: No such file or directory"
        ]

    # A read that fails half-way through the file (a disk error) is reported by
    # the part that met it: the lines before it are kept, as one reader keeps them.
    class Failing:
        def __init__(self, *args: Any) -> None:
            self._fh = open(*args)  # noqa: SIM115 - closed by __exit__

        def __getattr__(self, name: str) -> Any:
            return getattr(self._fh, name)

        def __enter__(self) -> Failing:
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()

        def __iter__(self) -> Any:
            for raw in self._fh:
                if b'"N"' in raw:
                    raise OSError(5, "Input/output error")
                yield raw

    monkeypatch.setattr("compliance.reader.open", Failing, raising=False)
    whole = read_transcripts([first])
    assert [str(e) for e in whole.errors][-1] == f"{first}: cannot read: Input/output error"
    assert sum(len(s.lines) for s in whole.sessions) == 9  # the lines before it
    sessions, errors = _merged(read_parts([first], 2))  # the failure in the second part
    assert sessions == whole.sessions
    assert errors == [str(e) for e in whole.errors]
    # In three parts the last one begins after the failing line and reads on: the
    # error once, and more of the file kept than one reader keeps.
    sessions, errors = _merged(read_parts([first], 3))
    assert [e for e in errors if "cannot read" in e] == [
        f"{first}: cannot read: Input/output error"
    ]
    kept = {(line.line_no, line.text) for s in sessions for line in s.lines}
    assert {(line.line_no, line.text) for s in whole.sessions for line in s.lines} < kept


def test_corpus_has_the_awkward_cases(corpus: Path) -> None:
    whole = read_transcripts([corpus])
    ids = {s.id for s in whole.sessions}
    assert {"ESCAPE", "NEST", "DUP-B", "KEYESC"} <= ids
    assert len(next(s for s in whole.sessions if s.id == "ESCAPE").lines) == 2
    assert "OTHER" not in ids and "DUP-A" not in ids
    assert any(s.id.isdigit() for s in whole.sessions)
    assert len(next(s for s in whole.sessions if s.id == "0").lines) == 2  # -0 and 0
    problems = "\n".join(str(e) for e in whole.errors)
    for expected in (
        "not valid JSON",
        "must be a JSON object",
        "missing field 'session'",
        "field 'session' is empty",
        "bad time 'yesterday'",
        "not valid UTF-8",
        "names no 'channel'",
        "part1w.jsonl: encoded as UTF-16LE",
    ):
        assert expected in problems


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["check", *argv, "--no-progress"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


class _FixedNow(datetime):
    """The run's start time, which the HTML report prints, the same for both runs."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FixedNow:
        return cls(2026, 11, 23, 1, 2, 3, tzinfo=tz)


@pytest.mark.parametrize("fmt", ["json", "text", "csv", "html"])
def test_reports_match_one_process_byte_for_byte(
    corpus: Path,
    tmp_path: Path,
    fmt: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(check_run, "datetime", _FixedNow)
    one = tmp_path / f"one.{fmt}"
    many = tmp_path / f"many.{fmt}"
    status_one, _out, err_one = _run(
        [str(corpus), "--format", fmt, "--out", str(one), "--jobs", "1"], capsys
    )
    status_many, _out, err_many = _run(
        [str(corpus), "--format", fmt, "--out", str(many), "--jobs", "3"], capsys
    )
    assert status_one == status_many == 2  # the corpus has bad lines
    assert err_many == err_one
    assert "not valid UTF-8" in err_many
    assert many.read_bytes() == one.read_bytes()
    if fmt == "json":
        report = json.loads(many.read_text(encoding="utf-8"))
        assert report["summary"]["complete"] is False
        codes = {f["rule"] for f in report["findings"]}
        assert {"SCR001", "SCR003", "LNG002", "SLA002"} <= codes


def test_xlsx_matches_one_process(
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(check_run, "datetime", _FixedNow)
    books = []
    for jobs in ("1", "2"):
        out = tmp_path / f"report-{jobs}.xlsx"
        status, _out, _err = _run(
            [str(corpus), "--format", "xlsx", "--out", str(out), "--jobs", jobs], capsys
        )
        assert status == 2
        workbook = openpyxl.load_workbook(out, read_only=True)
        books.append(
            {
                sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)]
                for sheet in workbook.worksheets
            }
        )
        workbook.close()
    assert books[0] == books[1]
    assert sum(len(rows) for rows in books[0].values()) > 20


def test_a_failing_worker_fails_the_run(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("rule exploded")

    # Forked workers inherit the patched module.
    monkeypatch.setattr(check_run, "prepare_session", broken)
    status, out, err = _run([str(corpus), "--format", "json", "--jobs", "2"], capsys)
    assert status == 2
    assert "checking process" in err and "rule exploded" in err
    assert '"summary"' not in out  # no report passed off as complete
    # One line naming where the session starts and what raised, no traceback.
    failure = next(line for line in err.splitlines() if "rule exploded" in line)
    assert re.search(
        r"\.jsonl:\d+: checking session '[^']+' failed: RuntimeError: rule exploded", failure
    )
    assert "raised at tests/compliance/test_parallel.py:" in failure
    assert "Traceback" not in err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_rule_that_raises_names_the_session_and_its_file_line(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    from compliance.rules.language import Profanity

    def explode(self: Any, session: Any, facts: Any, ctx: Any) -> Any:
        raise ZeroDivisionError("a rule's defect")

    monkeypatch.setattr(Profanity, "check", explode)
    status, out, err = _run([str(corpus), "--format", "json", "--jobs", jobs], capsys)
    assert status == 2
    assert "Traceback" not in err
    assert re.search(
        r"\.jsonl:\d+: checking session '[^']+' failed: ZeroDivisionError: a rule's defect", err
    ), err
    assert '"summary"' not in out


def test_auto_jobs_keeps_small_input_in_one_process(tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl"
    small.write_text("{}\n", encoding="utf-8")
    assert auto_jobs([small]) == 1
    big = tmp_path / "big.jsonl"
    with big.open("wb") as fh:
        fh.truncate(AUTO_MIN_BYTES)
    assert auto_jobs([big]) >= 1


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        ({"paths": ["x.jsonl"], "jobs": -1}, "--jobs -1"),
        ({"db": "sqlite:///x.db", "jobs": 2}, "--jobs is for transcript files"),
    ],
)
def test_jobs_usage_errors(argv: dict[str, Any], problem: str) -> None:
    import argparse

    with pytest.raises(check_cli.UsageError, match=problem):
        parse_options(argparse.Namespace(**argv))


def test_checked_sessions_survive_pickling_between_processes(corpus: Path) -> None:
    import pickle

    from compliance.checker import Checker
    from compliance.policy import load_policy
    from compliance.run import prepare_session

    policy = load_policy()
    checker = Checker(policy)
    read = read_transcripts([corpus])
    flagged = 0
    for session in read.sessions:
        reported = prepare_session(policy, session, checker.check(session))
        copy = pickle.loads(pickle.dumps(reported, protocol=pickle.HIGHEST_PROTOCOL))
        assert copy == reported
        assert copy.session.lines == session.lines
        flagged += bool(reported.findings)
    assert flagged > 10


def test_a_reader_that_goes_away_stops_the_workers_quietly(tmp_path: Path) -> None:
    import subprocess
    import sys

    # Enough sessions that the report outgrows the pipe before the reader leaves.
    records = _case_records()
    lines = []
    for copy in range(300):
        for record in records:
            lines.append(json.dumps({**record, "session": f"{record['session']}-{copy}"}))
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    repo = Path(__file__).resolve().parents[2]
    check = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "check", str(big), "--jobs", "2", "--no-progress"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert check.stdout is not None and check.stderr is not None
    first = check.stdout.read(200)  # like `| head -c 200`
    check.stdout.close()
    stderr = check.stderr.read().decode("utf-8", "replace")
    status = check.wait(timeout=60)
    assert first
    assert status == 2
    assert "Traceback" not in stderr
