"""Reading transcripts: grouping, ordering, inheritance, and a clear error for every bad line."""

from __future__ import annotations

import codecs
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from compliance.calendar import SHANGHAI
from compliance.reader import read_parts, read_transcripts
from compliance.transcript import TranscriptBuilder, sessions_from_records


def line(**fields: Any) -> str:
    base: dict[str, Any] = {
        "session": "S1",
        "channel": "wechat",
        "ts": "2026-11-23T09:31:00+08:00",
        "role": "customer",
        "sender": "oC1",
        "text": "服务器开不了机了",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}, ensure_ascii=False)


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_spec_example_reads_into_one_session(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.jsonl",
        line(),
        line(
            ts="2026-11-23T09:31:20+08:00",
            role="agent",
            sender="1818",
            name="张三",
            text="您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]",
        ),
        line(
            ts="2026-11-23T09:40:00+08:00",
            role="event",
            event="remote_login",
            sender="1818",
            text=None,
            channel=None,
        ),
    )
    read = read_transcripts([path])
    assert read.errors == []
    assert read.lines == 3
    assert read.files == [str(path)]
    (session,) = read.sessions
    assert session.id == "S1"
    assert session.channel == "wechat"
    assert [(ln.index, ln.role) for ln in session.lines] == [
        (0, "customer"),
        (1, "agent"),
        (2, "event"),
    ]
    assert session.lines[2].event == "remote_login"
    assert session.lines[2].channel == "wechat"  # inherited
    assert session.lines[1].origin == f"{path}:2"
    assert session.names == {"1818": "张三"}
    assert session.lines[0].ts == datetime(2026, 11, 23, 9, 31, tzinfo=timezone(timedelta(hours=8)))


def test_order_is_by_time_then_reading_order_across_files(tmp_path: Path) -> None:
    write(
        tmp_path / "b.jsonl",
        line(ts="2026-11-23T09:33:00+08:00", text="third"),
        line(session="S2", ts="2026-11-23T08:00:00+08:00", text="other session"),
    )
    write(
        tmp_path / "a.jsonl",
        line(ts="2026-11-23T09:32:00+08:00", text="second (same time, read first)"),
        line(ts="2026-11-23T01:00:00+00:00", text="first: 09:00 in Shanghai"),
    )
    write(tmp_path / "c.jsonl", line(ts="2026-11-23T09:32:00+08:00", text="second (read later)"))
    (tmp_path / "notes.txt").write_text("not a transcript", encoding="utf-8")
    read = read_transcripts([tmp_path])
    assert read.errors == []
    assert read.files == [str(tmp_path / n) for n in ("a.jsonl", "b.jsonl", "c.jsonl")]
    assert [s.id for s in read.sessions] == ["S1", "S2"]  # order of first appearance
    texts = [ln.text for ln in read.sessions[0].lines]
    assert texts == [
        "first: 09:00 in Shanghai",
        "second (same time, read first)",
        "second (read later)",
        "third",
    ]
    assert [ln.index for ln in read.sessions[0].lines] == [0, 1, 2, 3]


def test_naive_time_is_asia_shanghai_and_z_is_utc(tmp_path: Path) -> None:
    read = sessions_from_records(
        [
            {
                "session": "S",
                "channel": "web",
                "ts": "2026-11-23 09:31:00",
                "role": "customer",
                "text": "a",
            },
            {"session": "S", "ts": "2026-11-23T01:32:00Z", "role": "customer", "text": "b"},
        ],
        "mem",
    )
    first, second = read.sessions[0].lines
    assert first.ts.tzinfo is SHANGHAI
    assert first.ts.utcoffset() == timedelta(hours=8)
    assert second.ts - first.ts == timedelta(minutes=1)


def test_channel_is_inherited_from_the_line_read_before(tmp_path: Path) -> None:
    read = sessions_from_records(
        [
            {
                "session": "S",
                "channel": "phone",
                "ts": "2026-11-23T09:00:00",
                "role": "customer",
                "text": "a",
            },
            {"session": "S", "ts": "2026-11-23T09:01:00", "role": "customer", "text": "b"},
            {
                "session": "S",
                "channel": "wechat",
                "ts": "2026-11-23T09:02:00",
                "role": "customer",
                "text": "c",
            },
            {"session": "S", "ts": "2026-11-23T09:03:00", "role": "customer", "text": "d"},
        ],
        "mem",
    )
    assert read.sessions[0].channel == "phone"
    assert [ln.channel for ln in read.sessions[0].lines] == ["phone", "phone", "wechat", "wechat"]


def test_session_without_any_channel_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", line(channel=None), line(channel=None, text="again"))
    read = read_transcripts([path])
    assert read.sessions == []
    assert [str(e) for e in read.errors] == [
        f"{path}:1: session 'S1' names no 'channel' on any line "
        "(give it at least on the session's first line)"
    ]


BAD_LINES = [
    ("not json", "not valid JSON (Expecting value at column 1)"),
    ('{"session": "S1",', "not valid JSON"),
    ("[1, 2]", "a line must be a JSON object, got an array"),
    (line() + ' {"x": 1}', "not valid JSON (Extra data at column"),
    (line(session=None), "missing field 'session'"),
    (line(session=""), "field 'session' is empty"),
    (line(ts=None), "missing field 'ts'"),
    (line(ts="2026-13-40T09:00:00"), "field 'ts': bad time '2026-13-40T09:00:00'"),
    (line(ts=1700000000), "field 'ts': bad time 1700000000"),
    (line(role=None), "missing field 'role'"),
    (line(role="bot"), "field 'role': unknown role 'bot' (expected agent, customer, event)"),
    (line(channel="email"), "field 'channel': unknown channel 'email'"),
    (line(role="agent", sender=None), "an agent line needs field 'sender' (the engineer's 工号)"),
    (line(text=None), "a customer line needs field 'text'"),
    (line(text=["a"]), "field 'text' must be a string, got an array"),
    (line(name=5), "field 'name' must be a string, got a number"),
    (line(role="event", text=None), "an event line needs field 'event'"),
    (line(role="event", event="rebooted"), "field 'event': unknown event 'rebooted'"),
    (line(role="event", event="satisfaction_rated"), "satisfaction_rated needs field 'rating'"),
    (
        line(role="event", event="satisfaction_rated", rating="五星"),
        "field 'rating': unknown rating '五星' (expected 很满意 / 满意 / 一般 / 不满意)",
    ),
    # Times the SPEC rules out (1970–2100), among them ones that overflow in UTC.
    (line(ts="9999-12-31T23:00:00-05:00"), "field 'ts': '9999-12-31T23:00:00-05:00' is outside"),
    (line(ts="0001-01-01T00:00:00+08:00"), "field 'ts': '0001-01-01T00:00:00+08:00' is outside"),
    (line(ts="1969-12-31T23:59:59+00:00"), "field 'ts': '1969-12-31T23:59:59+00:00' is outside"),
    (line(ts="2101-01-01T00:00:00"), "field 'ts': '2101-01-01T00:00:00' is outside the years"),
    # What orjson refuses, read as the standard library reads it, messages and all.
    ("[" * 200_000, "not valid JSON (arrays or objects nested too deeply)"),
    ('{"session": NaN}', "field 'session' must be a string, got a number"),
    (
        line().replace('"text": "服务器开不了机了"', '"text": "\\ud800"'),
        "field 'text' holds an escaped lone surrogate",
    ),
    (line(role=10**30), "field 'role': unknown role 1000000000000000000000000000000"),
    (line(ts=-(10**25)), "field 'ts': bad time -10000000000000000000000000"),
    ('{"a": 1}\x0c{"b": 2}', "not valid JSON (Extra data at column 9)"),
    ("\u3000", "not valid JSON (Expecting value at column 1)"),
    (b"\xff\xfe{}".decode("latin-1"), "not valid"),
]


@pytest.mark.parametrize(("bad", "problem"), BAD_LINES, ids=[p[:60] for _, p in BAD_LINES])
def test_bad_line_is_reported_and_the_rest_is_read(tmp_path: Path, bad: str, problem: str) -> None:
    path = write(
        tmp_path / "t.jsonl",
        line(text="before"),
        "",
        bad,
        line(ts="2026-11-23T09:32:00+08:00", text="after"),
    )
    read = read_transcripts([path])
    (error,) = read.errors
    assert str(error).startswith(f"{path}:3: {problem}"), str(error)
    assert (error.path, error.line_no) == (str(path), 3)
    assert [ln.text for ln in read.sessions[0].lines] == ["before", "after"]
    assert read.lines == 3  # the blank line is not counted


def test_what_the_standard_library_takes_is_taken(tmp_path: Path) -> None:
    # orjson refuses these or reads them otherwise; the standard library is the reference.
    big = 10**30
    path = write(
        tmp_path / "t.jsonl",
        "\u3000" + line(text="ideographic space first") + "\u3000",
        line(session=big, text="a session id beyond 64 bits"),
        line(session=big, sender=-big, text="a sender beyond 64 bits"),
        line(session=big, text="a float elsewhere", extra=1.5),
        '{"session": "S1", "session": "S2", "channel": "web", "ts": "2026-11-23T09:00:00",'
        ' "role": "customer", "text": "the last of repeated keys", "n": Infinity}',
    )
    read = read_transcripts([path])
    assert read.errors == []
    by_text = {ln.text: (ln.session, ln.sender) for s in read.sessions for ln in s.lines}
    assert by_text == {
        "ideographic space first": ("S1", "oC1"),
        "a session id beyond 64 bits": (str(big), "oC1"),
        "a sender beyond 64 bits": (str(big), str(-big)),
        "a float elsewhere": (str(big), "oC1"),
        "the last of repeated keys": ("S2", None),
    }


def test_good_event_lines_carry_event_and_rating() -> None:
    read = sessions_from_records(
        [
            {
                "session": "S",
                "channel": "wechat",
                "ts": "2026-11-23T09:00:00",
                "role": "event",
                "event": "satisfaction_rated",
                "rating": "很满意",
            },
            {
                "session": "S",
                "ts": "2026-11-23T09:00:01",
                "role": "agent",
                "sender": 1818,
                "text": "谢谢",
            },
        ],
        "mem",
    )
    assert read.errors == []
    event, agent = read.sessions[0].lines
    assert (event.event, event.rating) == ("satisfaction_rated", "很满意")
    assert agent.sender == "1818"  # a numeric 工号 is read as text


def test_white_space_around_a_line_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", "  " + line() + "  \t", "\t" + line(text="b"))
    read = read_transcripts([path])
    assert read.errors == []
    assert [ln.text for ln in read.sessions[0].lines] == ["服务器开不了机了", "b"]


def test_invalid_utf8_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + line().encode()
        + b"\n"
        + b'{"text": "\xff\xfe"}\n'
        + line(ts="2026-11-23T09:32:00+08:00").encode()
        + b"\n"
    )
    read = read_transcripts([path])
    assert [str(e) for e in read.errors] == [
        f"{path}:2: not valid UTF-8 (invalid start byte at byte 10)"
    ]
    assert len(read.sessions[0].lines) == 2


@pytest.mark.parametrize(
    ("codec", "named"),
    [("utf-16", "UTF-16LE"), ("utf-16-be", "UTF-16BE"), ("utf-32", "UTF-32LE")],
)
def test_a_utf16_or_utf32_file_is_one_clear_error(tmp_path: Path, codec: str, named: str) -> None:
    wide = tmp_path / "a_notepad.jsonl"
    text = line() + "\n" + line(ts="2026-11-23T09:32:00+08:00") + "\n"
    # utf-16-be writes no mark of its own: add it as an editor would.
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    wide.write_bytes(data)
    write(tmp_path / "b_good.jsonl", line(session="S2"))
    message = (
        f"{wide}: encoded as {named} (it starts with that byte-order mark); "
        f"transcripts must be UTF-8: convert it, e.g. iconv -f {named} -t UTF-8"
    )
    whole = read_transcripts([tmp_path])
    assert [str(e) for e in whole.errors] == [message]
    assert [s.id for s in whole.sessions] == ["S2"]  # the next file is still read
    # Reading in parts: the first part reports it, the other stays silent.
    first, second = read_parts([tmp_path], 2)
    assert [str(e) for e in first.errors] == [message]
    assert second.errors == []
    assert sorted(s.id for s in first.sessions + second.sessions) == ["S2"]


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    read = read_transcripts([tmp_path / "nope.jsonl", tmp_path / "empty"])
    assert [str(e) for e in read.errors] == [
        f"{tmp_path / 'nope.jsonl'}: no such file or directory",
        f"{tmp_path / 'empty'}: directory holds no *.jsonl file",
    ]
    assert read.sessions == []


def test_records_errors_name_origin_and_position() -> None:
    read = sessions_from_records(
        [{"session": "S", "channel": "web", "ts": "x", "role": "customer", "text": "a"}], "db"
    )
    assert [str(e) for e in read.errors] == [
        "db:1: field 'ts': bad time 'x': expected ISO 8601 such as 2026-11-23T09:31:00+08:00"
    ]


def test_builder_records_where_each_line_came_from() -> None:
    builder = TranscriptBuilder()
    ok = builder.add(
        {
            "session": "S",
            "channel": "web",
            "ts": "2026-11-23T09:00:00",
            "role": "customer",
            "text": "a",
        },
        "db:message",
        17,
    )
    assert ok
    assert not builder.add({"session": "S"}, "db:message:18", None)
    read = builder.finish()
    assert read.sessions[0].lines[0].origin == "db:message:17"
    assert [str(e) for e in read.errors] == ["db:message:18: missing field 'ts'"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("role", ["agent"], "field 'role': unknown role ['agent']"),
        ("channel", {"x": 1}, "field 'channel': unknown channel {'x': 1}"),
        ("session", 1.5, "field 'session' must be a string, got a number"),
        ("sender", ["1818"], "field 'sender' must be a string, got an array"),
    ],
)
def test_unhashable_or_odd_values_are_errors_not_crashes(
    field: str, value: Any, problem: str
) -> None:
    record = {
        "session": "S",
        "channel": "web",
        "ts": "2026-11-23T09:00:00",
        "role": "customer",
        "text": "a",
        field: value,
    }
    read = sessions_from_records([record], "mem")
    (error,) = read.errors
    assert str(error).startswith(f"mem:1: {problem}"), str(error)


def test_aware_times_keep_their_offset_and_order_by_instant() -> None:
    read = sessions_from_records(
        [
            {
                "session": "S",
                "channel": "web",
                "ts": f"2026-11-23T09:0{i}:00+08:00",
                "role": "customer",
                "text": "a",
            }
            for i in range(3)
        ]
        + [{"session": "S", "ts": "2026-11-23T01:03:00Z", "role": "customer", "text": "z"}],
        "mem",
    )
    first, second, third, utc = read.sessions[0].lines
    assert [line.ts.utcoffset() for line in (first, second, third)] == [timedelta(hours=8)] * 3
    assert utc.ts.utcoffset() == timedelta(0)  # 09:03+08:00, after 09:02+08:00
    assert utc.index == 3
