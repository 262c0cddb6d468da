"""The input rules of every edge (`bot.validation`), one golden case per rule and border,
their pydantic types (`bot.validation_models`), and the command line's use of them."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.http import ApiError, json_object, validated
from bot.validation import (
    INT4_MAX,
    Invalid,
    parse_day,
    parse_finite,
    parse_id,
    parse_moment,
    parse_month,
    problem,
    scrub_text,
    text_problem,
)
from bot.validation_models import Id, Model, Moment, Text, first_error
from tests.channels.harness import REPO

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "contains NUL (U+0000) at position 1"),
        ("\x07", "contains the control character U+0007 at position 0"),
        ("\x1b[2J", "contains the control character U+001B at position 0"),
        ("x\x7f", "contains the control character U+007F at position 1"),
        ("买家\ud800", "contains a lone surrogate (U+D800) at position 2"),
        ("\udfff", "contains a lone surrogate (U+DFFF) at position 0"),
    ],
)
def test_text_refused_with_the_character_and_where(value: str, reason: str) -> None:
    assert text_problem(value) == reason


@pytest.mark.parametrize("value", ["", "服务器开不了机", "tab\there", "line\nbreak\r\n", "😀", "ｱ"])
def test_text_taken(value: str) -> None:
    assert text_problem(value) is None


def test_pulled_text_is_scrubbed_not_refused() -> None:
    assert scrub_text("a\x00b\ud800c\n") == "a\ufffdb\ufffdc\n"


def test_problem_names_the_path_of_the_first_bad_string() -> None:
    assert problem({"a": [1, {"b": "ok"}, {"c": "x\x00"}]}) == (
        "a[2].c",
        "contains NUL (U+0000) at position 1",
    )
    assert problem({"k\ud800": 1}) == (
        "k\\ud800",
        "field name contains a lone surrogate (U+D800) at position 1",
    )
    assert problem({"a": ["fine", 1.5, None, True]}) is None


@pytest.mark.parametrize("raw", ["²", "١٢", "１２", "1_000", " 12", "+5", "12.0", "0x1f", "", "-1"])
def test_ids_are_ascii_digits_only(raw: str) -> None:
    with pytest.raises(Invalid):
        parse_id(raw)


def test_ids_within_int4() -> None:
    assert parse_id("1") == 1
    assert parse_id(str(INT4_MAX)) == INT4_MAX
    assert parse_id(7) == 7
    for value in (str(INT4_MAX + 1), "9" * 19, "9" * 20, 0, True, 2.0):
        with pytest.raises(Invalid):
            parse_id(value)
    assert parse_id("0", low=0) == 0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", "1e309", True])
def test_numbers_finite(value: object) -> None:
    with pytest.raises(Invalid):
        parse_finite(value)


def test_numbers_taken() -> None:
    assert parse_finite(12) == 12.0
    assert parse_finite(-0.5) == -0.5
    assert parse_finite("2.5") == 2.5


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59-05:00",
        "1969-12-31T23:59:59+00:00",
        "2101-01-01T00:00:00+00:00",
        "1970-01-01T07:59:59+08:00",  # 1969 in UTC
        "２０２６-11-23T09:31:00+08:00",
        "1700000000",
        "yesterday",
        "2026-11-23T09:31:00+08:00" + " " * 30,
    ],
)
def test_times_refused(raw: str) -> None:
    with pytest.raises(Invalid):
        parse_moment(raw)


def test_times_need_an_offset_unless_the_contract_gives_a_zone() -> None:
    with pytest.raises(Invalid, match="offset"):
        parse_moment("2026-11-23T09:31:00")
    assert parse_moment("2026-11-23T09:31:00", naive_tz=SHANGHAI) == datetime(
        2026, 11, 23, 1, 31, tzinfo=UTC
    )
    with pytest.raises(Invalid, match="year 9999"):
        parse_moment("9999-12-31T23:59:59", naive_tz=SHANGHAI)


def test_times_taken_at_the_borders() -> None:
    assert parse_moment("1970-01-01T00:00:00Z") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_moment("2100-12-31T23:59:59+00:00").year == 2100
    east = parse_moment("2026-11-23T09:31:00.123+08:00")
    assert east.utcoffset() == timedelta(hours=8)
    assert parse_moment(datetime(2026, 1, 1, tzinfo=UTC)).year == 2026


def test_days_and_months() -> None:
    assert parse_day("2026-11-23") == date(2026, 11, 23)
    assert parse_month("2026-12") == date(2026, 12, 1)
    for raw in ("0001-01-01", "9999-12-31", "2026-02-30", "2026-1-1", "２０２６-01-01"):
        with pytest.raises(Invalid):
            parse_day(raw)
    for raw in ("9999-12", "1969-12", "2026-13", "2026-00", "2026-1", "2026-12-01", 202612):
        with pytest.raises(Invalid):
            parse_month(raw)


class _Body(Model):
    text: Text
    id: Id
    at: Moment | None = None


def test_models_name_the_field_and_do_not_coerce() -> None:
    assert _Body.model_validate({"text": "好", "id": 3}).id == 3
    cases = [
        ({"text": "a\x00", "id": 1}, "text", "contains NUL"),
        ({"text": "a", "id": "²"}, "id", "ASCII digits"),
        ({"text": "a", "id": 2**31}, "id", "between"),
        ({"text": 5, "id": 1}, "text", "must be a string"),
        ({"text": "a", "id": 1, "at": "2026-01-01T00:00:00"}, "at", "offset"),
        ({"id": 1}, "text", "required"),
    ]
    for data, field, words in cases:
        with pytest.raises(ValidationError) as caught:
            _Body.model_validate(data)
        path, message, code = first_error(caught.value)
        assert path == field and words in message, (data, path, message)
        assert code == ("missing_field" if words == "required" else "bad_field")
    with pytest.raises(ApiError) as refused:
        validated(_Body, {"text": "a", "id": 0})
    assert (refused.value.status, refused.value.extra) == (400, {"field": "id"})


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"a": NaN}', "bad_number"),
        (b'{"a": Infinity}', "bad_number"),
        (b'{"a": -Infinity}', "bad_number"),
        (b'{"a": 1e309}', "bad_number"),
        (b'{"a": 1' + b"0" * 30 + b"}", "bad_number"),
        (b"[" * 100_000, "malformed_json"),
        (b'{"a": "\\u0000"}', "bad_field"),
        (b'{"a": "\\ud800"}', "bad_field"),
        (b'{"\\ud800": 1}', "bad_field"),
        (b"\xff\xfe", "bad_encoding"),
    ],
)
def test_json_bodies_refused(raw: bytes, code: str) -> None:
    with pytest.raises(ApiError) as refused:
        json_object(raw)
    assert (refused.value.status, refused.value.code) == (400, code)


def test_json_bodies_taken() -> None:
    assert json_object(b'{"a": 1.5, "b": [1, -2], "c": "\\u4f60\\t"}') == {
        "a": 1.5,
        "b": [1, -2],
        "c": "你\t",
    }


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_refuses_by_the_same_rules_without_a_traceback() -> None:
    for args, words in (
        (("serve", "--port", "١٢"), "--port"),
        (("serve", "--port", "70000"), "--port"),
        (("privacy", "retention", "--days", "1e3"), "--days"),
        (("user", "add", "a\x07b", "--role", "qa"), "username"),
        (("privacy", "forget", "--customer", "x\x01"), "--customer"),
    ):
        done = _cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr, done.stderr
    calendar = _cli("calendar", "0001-01-01", "2026-10-01")
    assert calendar.returncode == 2 and "Traceback" not in calendar.stderr, calendar.stderr
    assert "year 1 is outside 1970–2100" in calendar.stderr
    assert '"date": "2026-10-01"' in calendar.stdout
