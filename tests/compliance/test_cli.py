"""``aftersales check`` end to end: exit statuses, usage errors, bad input, every format."""

from __future__ import annotations

import csv
import gc
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.cli import main
from compliance import cli as check_cli
from compliance.progress import Progress

REPO = Path(__file__).resolve().parents[2]
GREETING = "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]"


def _write(path: Path, records: list[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _clean_session(session: str = "OK1") -> list[dict[str, Any] | str]:
    return [
        {
            "session": session,
            "channel": "wechat",
            "ts": "2026-11-23T09:31:00+08:00",
            "role": "customer",
            "sender": "oC9",
            "text": "请问怎么配置RAID",
        },
        {
            "session": session,
            "ts": "2026-11-23T09:31:20+08:00",
            "role": "agent",
            "sender": "1818",
            "name": "张三",
            "text": GREETING,
        },
        {
            "session": session,
            "ts": "2026-11-23T09:31:40+08:00",
            "role": "agent",
            "sender": "1818",
            "text": "您可以在BIOS里进入阵列卡配置界面",
        },
    ]


def _bad_session() -> list[dict[str, Any] | str]:
    return [
        {
            "session": "BAD1",
            "channel": "wechat",
            "ts": "2026-11-23T10:00:00+08:00",
            "role": "customer",
            "sender": "oC1",
            "text": "服务器开不了机，我电话13812345678",
        },
        {
            "session": "BAD1",
            "ts": "2026-11-23T10:00:20+08:00",
            "role": "agent",
            "sender": "1818",
            "name": "张三",
            "text": GREETING,
        },
        {
            "session": "BAD1",
            "ts": "2026-11-23T10:01:00+08:00",
            "role": "agent",
            "sender": "1818",
            "text": "你这傻逼问题，打13812345678问别人",
        },
    ]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    folder = tmp_path / "transcripts"
    folder.mkdir()
    _write(folder / "a.jsonl", _clean_session())
    _write(folder / "b.jsonl", _bad_session())
    (folder / "notes.txt").write_text("not a transcript", encoding="utf-8")
    return folder


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["check", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --------------------------------------------------------------- statuses --


def test_clean_transcript_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "ok.jsonl", _clean_session())
    status, out, err = run([str(path)], capsys)
    assert (status, err) == (0, "")
    assert out.startswith("未发现问题。\n")
    assert "会话 1 个（有问题 0 个）" in out


def test_error_findings_exit_1_with_linter_lines(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run([str(mixed)], capsys)
    assert status == 1, err
    first = out.splitlines()[0]
    assert first.startswith("BAD1:3 LNG001 ")
    assert "傻逼" in first
    assert "\x1b[" not in out  # captured stdout is not a terminal
    assert "13812345678" not in out


@pytest.mark.parametrize("output", ["stdout", "unwritable"])
def test_the_collector_is_left_as_it_was(
    mixed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    # Reading freezes what it read for the run (so the collector never walks it):
    # after the run, written or not, nothing stays frozen and the collector is on.
    argv = [str(mixed), "--jobs", "1"]
    if output == "unwritable":
        argv += ["--out", str(tmp_path / "missing-folder" / "report.txt")]
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    status, _out, err = run(argv, capsys)
    assert status == (2 if output == "unwritable" else 1), err
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_json_report(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _err = run([str(mixed), "--format", "json"], capsys)
    assert status == 1
    report = json.loads(out)
    lng001 = [f for f in report["findings"] if f["rule"] == "LNG001"]
    assert len(lng001) == 1
    finding = lng001[0]
    assert {k: finding[k] for k in ("session", "severity", "ts", "index", "agent", "evidence")} == {
        "session": "BAD1",
        "severity": "error",
        "ts": "2026-11-23T10:01:00+08:00",
        "index": 2,
        "agent": "1818",
        "evidence": "傻逼",
    }
    assert isinstance(finding["message"], str) and finding["message"]
    assert all(f["session"] == "BAD1" for f in report["findings"])
    summary = report["summary"]
    assert summary["complete"] is True and summary["input_errors"] == []
    assert summary["sessions"] == 2
    assert [s["session"] for s in summary["scores"]] == ["OK1", "BAD1"]
    assert summary["scores"][0]["score"] == 100
    assert summary["scores"][1]["score"] == 0  # LNG001 is fatal
    assert summary["sources"] == [str(mixed / "a.jsonl"), str(mixed / "b.jsonl")]


def test_select_and_ignore(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _status, out, _err = run([str(mixed), "--format", "json", "--select", "LNG"], capsys)
    report = json.loads(out)
    rules = {f["rule"] for f in report["findings"]}
    assert rules and all(rule.startswith("LNG") for rule in rules)
    assert all(code.startswith("LNG") for code in report["summary"]["rules_run"])

    status, out, _err = run(
        [str(mixed), "--format", "json", "--ignore", "LNG001,LNG006", "--select", "LNG"], capsys
    )
    report = json.loads(out)
    assert {f["rule"] for f in report["findings"]} == rules - {"LNG001", "LNG006"}
    assert status == (1 if report["summary"]["by_severity"]["error"] else 0)


# ----------------------------------------------------------- bad input --


def test_bad_lines_are_reported_and_the_report_is_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path / "t.jsonl",
        [
            *_clean_session(),
            "{not json",
            {
                "session": "X",
                "channel": "wechat",
                "ts": "yesterday",
                "role": "customer",
                "text": "hi",
            },
            {
                "session": "X",
                "channel": "wechat",
                "ts": "2026-11-23T09:31:00+08:00",
                "role": "boss",
                "text": "hi",
            },
        ],
    )
    status, out, err = run([str(path), "--format", "json"], capsys)
    assert status == 2
    errors = err.splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"{path}:4: not valid JSON")
    assert errors[1].startswith(f"{path}:5: field 'ts'")
    assert errors[2].startswith(f"{path}:6: field 'role'")
    summary = json.loads(out)["summary"]
    assert summary["complete"] is False
    assert summary["input_errors"] == errors
    assert summary["sessions"] == 1  # the good session is still checked

    status, out, _err = run([str(path)], capsys)
    assert status == 2
    assert out.startswith("报告不完整：有 3 行输入无法读取")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to check"),
        (["{tmp}/missing.jsonl"], "missing.jsonl: no such file or directory"),
        (["{tmp}/empty"], "empty: directory holds no *.jsonl file"),
        (["{tmp}/ok.jsonl", "--format", "xlsx"], "--format xlsx writes a workbook: give --out"),
        (["{tmp}/ok.jsonl", "--since", "2026-11-01"], "--since selects stored tickets by date"),
        (["{tmp}/ok.jsonl", "--until", "2026-11-01"], "--until selects stored tickets by date"),
        (["{tmp}/ok.jsonl", "--db", "sqlite:///x.db"], "not both"),
        (["{tmp}/ok.jsonl", "--select", "LNG001,XYZ9"], "unknown rule code or prefix 'XYZ9'"),
        (["{tmp}/ok.jsonl", "--ignore", "FOO"], "--ignore: unknown rule code or prefix 'FOO'"),
        (["{tmp}/ok.jsonl", "--save"], "--save needs a database"),
        (["{tmp}/ok.jsonl", "--save-db", "sqlite:///x.db"], "--save-db URL needs --save"),
        (["--db", "sqlite:///x.db", "--since", "2026-11-02", "--until", "2026-11-01"], "after"),
        (["{tmp}/ok.jsonl", "--out", "{tmp}/nowhere/r.txt"], "does not exist"),
        (["{tmp}/ok.jsonl", "--policy", "{tmp}/nope.toml"], "policy file not found"),
        (["--db", "sqlite:///x.db", "--since", "0001-01-01"], "--since 0001-01-01: outside"),
        (["--db", "sqlite:///x.db", "--until", "9999-12-31"], "--until 9999-12-31: outside"),
        (["--db", "sqlite:///x.db", "--since", "1969-12-31"], "the years 1970–2100"),
        (["{tmp}/blank.jsonl"], "nothing to check: no transcript lines in"),
        (["{tmp}/blanks"], "(the files are empty or blank)"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "ok.jsonl", _clean_session())
    (tmp_path / "empty").mkdir()
    (tmp_path / "blank.jsonl").write_text("\n  \n\t\n", encoding="utf-8")
    (tmp_path / "blanks").mkdir()
    (tmp_path / "blanks" / "a.jsonl").write_bytes(b"")
    (tmp_path / "blanks" / "b.jsonl").write_text("\n\n", encoding="utf-8")
    status, out, err = run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert status == 2
    assert message in err
    assert out == ""
    assert "Traceback" not in err


def test_a_directory_reads_jsonl_in_any_case_and_lists_what_it_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    _write(folder / "a.jsonl", _clean_session("A"))
    _write(folder / "UPPER.JSONL", _clean_session("UP"))
    (folder / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (folder / "folder.jsonl").mkdir()
    (folder / "notes.txt").write_text("not a transcript", encoding="utf-8")
    status, out, err = run([str(folder), "--format", "json"], capsys)
    assert status == 0
    assert json.loads(out)["summary"]["sessions"] == 2  # a.jsonl and UPPER.JSONL
    assert err.splitlines() == [
        f"{folder / 'folder.jsonl'}: skipped (a directory)",
        f"{folder / 'gone.jsonl'}: skipped (a broken symbolic link)",
    ]


# --------------------------------------------------------------- formats --


def test_all_formats_to_files(
    mixed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    for fmt in ("text", "json", "csv", "html", "xlsx"):
        status, stdout, err = run(
            [str(mixed), "--format", fmt, "--out", str(out / f"r.{fmt}")], capsys
        )
        assert (status, stdout, err) == (1, "", "")
    assert sorted(p.name for p in out.iterdir()) == [
        "r.csv",
        "r.html",
        "r.json",
        "r.text",
        "r.xlsx",
    ]  # and no half-written leftovers

    text = (out / "r.text").read_text(encoding="utf-8")
    assert text.startswith("BAD1:3 LNG001 ")

    report = json.loads((out / "r.json").read_text(encoding="utf-8"))
    total = len(report["findings"])

    raw = (out / "r.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == total + 1
    assert rows[0][:3] == ["会话", "规则", "规则名称"]

    book = openpyxl.load_workbook(out / "r.xlsx")
    sheet = book["问题明细"]
    assert sheet.max_row == total + 1
    assert [c.value for c in sheet[1]][:9] == [
        "会话",
        "规则",
        "级别",
        "时间",
        "位置",
        "工程师",
        "说明",
        "证据",
        "建议",
    ]
    assert sheet.auto_filter.ref == f"A1:M{total + 1}"  # M: 确认发送原因
    lng001 = next(row for row in sheet.iter_rows(values_only=True) if row[1] == "LNG001")
    assert lng001[:6] == ("BAD1", "LNG001", "错误", lng001[3], 3, "张三（1818）")
    months = list(book["工程师月度"].iter_rows(values_only=True))
    assert months[1][:4] == ("1818", "张三", "2026-11", 2)

    html = (out / "r.html").read_text(encoding="utf-8")
    assert '<mark title="LNG001">傻逼</mark>' in html
    assert "13812345678" not in html and "138****5678" in html
    assert "会话 BAD1" in html and "会话 OK1" not in html


def test_colour_only_on_a_terminal_without_no_color(
    mixed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        encoding = "utf-8"

        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["check", str(mixed), "--no-progress"]) == 1
    assert "\x1b[31mLNG001\x1b[0m" in terminal.getvalue()

    plain = Terminal()
    monkeypatch.setattr(sys, "stdout", plain)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["check", str(mixed), "--no-progress"]) == 1
    assert "\x1b[" not in plain.getvalue() and "BAD1:3 LNG001" in plain.getvalue()


# -------------------------------------------------------------- progress --


def test_progress_bar_draws_and_clears() -> None:
    stream = io.StringIO()
    progress = Progress(4, stream)
    progress.update(1)
    progress.update(2)  # within 0.1 s of the last draw: skipped
    progress.update(4)  # the last one is always drawn
    progress.close()
    drawn = stream.getvalue().split("\r")
    assert drawn[1].startswith("检查会话 1/4 [######..................]  25%")
    assert drawn[2].startswith("检查会话 4/4 [########################] 100%")
    assert drawn[3] == "\x1b[2K"
    silent = Progress.disabled()
    silent.update(1)
    silent.close()


def test_progress_without_a_total_says_what_it_waits_for() -> None:
    stream = io.StringIO()
    progress = Progress(0, stream, "读取转录（2 个进程）")
    progress.update(0)
    progress.close()
    assert stream.getvalue() == "\r读取转录（2 个进程） …\r\x1b[2K"


def test_progress_goes_to_stderr_only_on_a_terminal(
    mixed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["check", str(mixed), "--format", "json"]) == 1
    assert "检查会话 2/2" in terminal.getvalue()
    json.loads(capsys.readouterr().out)  # stdout is the report alone

    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["check", str(mixed), "--format", "json", "--no-progress"]) == 1
    assert quiet.getvalue() == ""
    capsys.readouterr()


def test_run_check_is_the_bot_cli_entry(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import build_parser

    args = build_parser().parse_args(["check", str(mixed), "--format", "json"])
    assert check_cli.run_check(args) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["sessions"] == 2


def test_command_line_process_exit_status(mixed: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check", str(mixed), "--format", "json"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr.decode()
    assert json.loads(done.stdout.decode("utf-8"))["summary"]["sessions"] == 2
    missing = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check", str(tmp_path / "nope")],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert b"no such file or directory" in missing.stderr
