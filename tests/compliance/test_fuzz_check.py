"""Random input never makes ``aftersales check`` print a traceback (issue 15).

Hypothesis writes transcript files of random bytes, of JSON lines with the SPEC's
fields holding values of any type (times in any year and offset, numbers beyond
64 bits, NaN, nesting, escaped surrogates), and of good lines with such lines
among them; the check must end with status 0, 1 or 2, and on stderr say what
is wrong in lines of its own, never with a traceback, an internal error or a
session the rules could not check.
Bounded: a fixed number of examples, no example database.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from compliance.parallel import fork_available

FIELDS = ("session", "channel", "ts", "role", "sender", "name", "text", "event", "rating")
WORDS = [
    "customer",
    "agent",
    "event",
    "wechat",
    "web",
    "phone",
    "resolved",
    "satisfaction_rated",
    "remote_login",
    "closed",
    "很满意",
    "1818",
    "S1",
    "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务",
    "好的",
    "远程",
    "",
]

times = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda ts: ts.isoformat()),
    st.datetimes().map(lambda ts: ts.isoformat()),
    st.sampled_from(
        [
            "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00+14:00",
            "2026-11-23T09:31:00+08:00",
            "2026-11-23",
            "2026-02-30T10:00:00",
            "",
        ]
    ),
    st.text(max_size=30),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64, max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A good record of any role, then a few of its fields changed, dropped or added."""
    role = draw(st.sampled_from(["customer", "agent", "event"]))
    record: dict[str, Any] = {
        "session": draw(st.sampled_from(["S1", "S2", 7])),
        "channel": draw(st.sampled_from(["wechat", "web", "phone"])),
        "ts": draw(times),
        "role": role,
        "sender": "1818" if role != "customer" else "oC1",
    }
    if role == "event":
        record["event"] = draw(st.sampled_from(["resolved", "remote_login", "closed"]))
        if draw(st.booleans()):
            record["event"] = "satisfaction_rated"
            record["rating"] = draw(st.sampled_from(["很满意", "一般"]))
    else:
        record["text"] = draw(st.one_of(st.sampled_from(WORDS), st.text(max_size=40)))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        change = draw(st.integers(0, 2))
        if change == 0:
            record.pop(name, None)
        elif change == 1:
            record[name] = draw(st.sampled_from(WORDS))
        else:
            record[name] = draw(values)
    return record


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    text = json.dumps(draw(records()), ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 5)) == 0:
        # An escaped lone surrogate, which json.dumps never writes on its own.
        text = text.replace("{", '{"text": "\\ud800", ', 1)
    return text.encode("utf-8", "surrogatepass")


garbage = st.one_of(
    st.binary(max_size=60),
    st.text(alphabet=string.printable + '[]{}"\\:,\u3000\ufeff', max_size=60).map(str.encode),
    st.integers(1, 3000).map(lambda depth: b"[" * depth),
    st.just(b"[" * 200_000),
)
lines = st.lists(st.one_of(json_lines(), json_lines(), garbage), max_size=12)


def _check(tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str], *argv: str) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(content)
    out = tmp_path / "report.json"
    status = main(["check", str(path), "--format", "json", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert status in (0, 1, 2), err
    assert "Traceback" not in err
    assert "internal error" not in err, err
    # A session that breaks a rule is a defect bad input brought out: the input
    # should have been refused, naming its line, before any rule saw it.
    assert "checking session" not in err, err
    if status in (0, 1):
        report = json.loads(out.read_text(encoding="utf-8"))
        assert report["summary"]["complete"] is True


_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(lines=lines, separator=st.sampled_from([b"\n", b"\r\n"]))
def test_random_lines_never_break_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[bytes], separator: bytes
) -> None:
    _check(tmp_path, separator.join(lines), capsys, "--jobs", "1")


@_SETTINGS
@given(content=st.binary(max_size=400))
def test_random_bytes_never_break_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    _check(tmp_path, content, capsys, "--jobs", "1")


GOOD = [
    {
        "session": "S1",
        "channel": "wechat",
        "ts": "2026-11-23T09:31:00+08:00",
        "role": "customer",
        "sender": "oC1",
        "text": "服务器开不了机了",
    },
    {
        "session": "S1",
        "ts": "2026-11-23T09:31:20+08:00",
        "role": "agent",
        "sender": "1818",
        "text": "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务",
    },
]


@pytest.mark.skipif(not fork_available(), reason="needs the fork start method")
@settings(_SETTINGS, max_examples=12)
@given(lines=lines)
def test_random_lines_among_good_ones_never_break_the_parallel_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[bytes]
) -> None:
    good = [json.dumps(record, ensure_ascii=False).encode("utf-8") for record in GOOD]
    _check(tmp_path, b"\n".join([*good, *lines, *good]) + b"\n", capsys, "--jobs", "2")
