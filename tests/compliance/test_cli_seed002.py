"""``aftersales check --policy seed002``: first responses by fault level, complaints by 2 h."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main

GREETING = "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]"


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _session(
    session: str, minutes: int, level: str | None, text: str = "服务器开不了机了"
) -> list[dict[str, Any]]:
    opened: dict[str, Any] = {
        "session": session,
        "channel": "wechat",
        "ts": "2026-11-23T10:00:00+08:00",
        "role": "event",
        "event": "ticket_opened",
    }
    if level is not None:
        opened["fault_level"] = level
    return [
        opened,
        {
            "session": session,
            "ts": "2026-11-23T10:00:01+08:00",
            "role": "customer",
            "sender": "oC1",
            "text": text,
        },
        {
            "session": session,
            "ts": f"2026-11-23T10:{minutes:02d}:01+08:00",
            "role": "agent",
            "sender": "1818",
            "name": "张三",
            "text": GREETING,
        },
    ]


def _check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    status = main(["check", *argv, "--format", "json", "--select", "SLA001,SLA006,SLA007"])
    return status, json.loads(capsys.readouterr().out)


def test_a_level_one_fault_answered_after_20_minutes_is_in_time_under_seed002(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "t.jsonl", _session("L1", 20, "一级"))
    status, report = _check([str(path), "--policy", "seed002"], capsys)
    assert status == 0
    assert report["findings"] == []
    # The 朴赛 default judges the same reply against its 1 minute.
    status, report = _check([str(path)], capsys)
    assert status == 1
    assert [f["rule"] for f in report["findings"]] == ["SLA001"]
    assert "工作日限时1分钟" in report["findings"][0]["message"]


def test_seed002_judges_by_level_and_says_when_it_classified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        *_session("GIVEN", 40, "一级"),
        *_session("READ", 40, None),
        *_session("CONSULT", 40, None, text="请问RAID怎么配置"),
    ]
    path = _write(tmp_path / "t.jsonl", records)
    status, report = _check([str(path), "--policy", "seed002"], capsys)
    assert status == 1
    by_session = {f["session"]: f for f in report["findings"]}
    assert set(by_session) == {"GIVEN", "READ"}
    given, read = by_session["GIVEN"], by_session["READ"]
    assert (given["rule"], given["index"], given["inferred"]) == ("SLA001", 1, False)
    assert "一级故障响应时限30分钟" in given["message"]
    assert read["inferred"] is True
    assert "推断为一级故障" in read["message"]


def test_seed002_complaint_first_reply_is_judged_by_2_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records: list[dict[str, Any]] = [
        {
            "session": "C1",
            "channel": "wechat",
            "ts": "2026-11-23T10:00:00+08:00",
            "role": "event",
            "event": "complaint_opened",
        },
        {
            "session": "C1",
            "ts": "2026-11-23T12:30:00+08:00",
            "role": "agent",
            "sender": "1818",
            "text": "张总，非常抱歉，处理意见如下",
        },
    ]
    path = _write(tmp_path / "c.jsonl", records)
    status, report = _check([str(path), "--policy", "seed002"], capsys)
    assert status == 1
    assert [(f["rule"], f["index"]) for f in report["findings"]] == [("SLA006", 0)]
    status, report = _check([str(path)], capsys)
    assert (status, report["findings"]) == (0, [])


def test_an_unknown_fault_level_is_an_input_error_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "t.jsonl", _session("X", 5, "五级"))
    status = main(["check", str(path), "--policy", "seed002"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{path}:1" in err and "fault_level" in err and "五级" in err
