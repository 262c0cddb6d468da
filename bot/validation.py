"""The input rules every edge applies, in one place (docs/validation.md).

Channels, the web chat, the console's forms and JSON APIs, the bridge and the
command line all check what a client sends with these rules, so a value the
database or the lifecycle cannot take is refused at the door with a reason —
never a 500 halfway through a transaction:

- **text**: no NUL or other C0 control (tab, LF and CR are line layout and
  allowed), no DEL, no lone surrogate (it cannot be stored as UTF-8);
- **whole numbers**: ASCII digits only (``²`` and ``١٢`` are not numbers here,
  though `str.isdigit` and `int` take them), within the column's range
  (`INT4_MAX` for ids);
- **real numbers**: finite (NaN, ±Infinity and ``1e309`` are refused);
- **times**: ISO 8601 in ASCII with an offset (a naive time only where the
  contract gives it a zone, e.g. the bridge's Asia/Shanghai), within
  1970-01-01 – 2100-12-31 (`EARLIEST`, `LATEST`); **dates** and **months**
  (``YYYY-MM``) in the same years.

Text the bot pulls from a platform (WeCom kf's ``sync_msg``) has no client to be
refused to: `scrub_text` replaces what the rule refuses instead, so one odd
message never wedges the channel's cursor.

The command line takes its arguments through the same rules (`cli`, `cli_text`,
`cli_whole`: argparse ``type=`` functions, a refusal is a usage error, exit 2).

Each rule is a plain function raising `Invalid` (a `ValueError`, so pydantic
reports it with the field's location); `bot.validation_models` makes each an
``Annotated`` pydantic type (`Text`, `Id`, `Finite`, `Moment`, `Day`, `Month`)
for the body and query models of the edges.  This module imports no pydantic,
so the command line (`aftersales check` too) starts without loading it.
`bot.http` turns a refusal into a 400 naming the field; `problem` gives the
first offending string anywhere in a decoded JSON document.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TypeVar

__all__ = [
    "EARLIEST",
    "INT4_MAX",
    "LATEST",
    "Invalid",
    "check_text",
    "cli",
    "cli_text",
    "cli_whole",
    "parse_day",
    "parse_finite",
    "parse_id",
    "parse_moment",
    "parse_month",
    "problem",
    "scrub_text",
    "shown",
    "text_problem",
]

T = TypeVar("T")

INT4_MAX = 2_147_483_647
# Times the bot stores: 1970 to the end of 2100 (policy).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
FIRST_YEAR, LAST_YEAR = 1970, 2100

# C0 controls but tab, LF and CR; DEL; lone surrogates.
_BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]{1,19}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_ISO_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


class Invalid(ValueError):
    """A value an edge refuses; the message says why (the caller names the field)."""


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    found = _BAD_CHAR.search(value)
    if found is None:
        return None
    char = found.group()
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"contains NUL ({code}) at position {found.start()}"
    if "\ud800" <= char <= "\udfff":
        return f"contains a lone surrogate ({code}) at position {found.start()}"
    return f"contains the control character {code} at position {found.start()}"


def check_text(value: str) -> str:
    """`value`, or `Invalid` when it holds a character text may not (see `text_problem`)."""
    reason = text_problem(value)
    if reason is not None:
        raise Invalid(reason)
    return value


def shown(value: str, limit: int = 64) -> str:
    """`value` fit to echo in a refusal: what the text rule refuses as ``\\uXXXX``, cut."""
    return _BAD_CHAR.sub(lambda m: f"\\u{ord(m.group()):04x}", value[:limit])


def scrub_text(value: str) -> str:
    """`value` with every character `text_problem` refuses replaced by U+FFFD: for text the
    bot pulls from a platform (no client to refuse it to) that must not wedge the sync."""
    return _BAD_CHAR.sub("\ufffd", value)


def problem(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first string (key or value) in a decoded JSON document that `text_problem`
    refuses, as (its path, e.g. ``media[0].url``, the reason); None when all are fine."""
    if isinstance(value, str):
        reason = text_problem(value)
        return (path or "body", reason) if reason else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = shown(str(key))
            here = f"{path}.{name}" if path else name
            reason = text_problem(str(key))
            if reason:
                return (here, f"field name {reason}")
            found = problem(item, here)
            if found:
                return found
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for index, item in enumerate(value):
            found = problem(item, f"{path}[{index}]")
            if found:
                return found
    return None


def parse_id(value: Any, *, low: int = 1, high: int = INT4_MAX) -> int:
    """A whole number in ASCII digits (or a JSON integer) in ``low..high``."""
    if isinstance(value, bool):
        raise Invalid("must be a whole number, not true/false")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise Invalid(f"must be a whole number in ASCII digits, got {value[:20]!r}")
        value = int(value)
    if not isinstance(value, int):
        raise Invalid(f"must be a whole number, got {type(value).__name__}")
    if not low <= value <= high:
        raise Invalid(f"must be between {low} and {high}")
    return value


def parse_finite(value: Any) -> float:
    """A finite real number (a JSON number, or a decimal string in ASCII)."""
    if isinstance(value, bool):
        raise Invalid("must be a number, not true/false")
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?[0-9]{1,15}(\.[0-9]{1,15})?", value.strip()):
            raise Invalid(f"must be a decimal number, got {value[:20]!r}")
        value = float(value)
    if not isinstance(value, int | float):
        raise Invalid(f"must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise Invalid("is too large") from None
    if not math.isfinite(number):
        raise Invalid("must be a finite number (not NaN or Infinity)")
    return number


def _year_ok(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(f"year {year} is outside {FIRST_YEAR}–{LAST_YEAR}")


def parse_moment(value: Any, *, naive_tz: tzinfo | None = None) -> datetime:
    """An ISO 8601 time with an offset (naive: `naive_tz`, where a contract gives one;
    else refused), in `EARLIEST`–`LATEST`."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        if len(value) > 40 or not _ISO_MOMENT.fullmatch(value):
            raise Invalid("must be an ISO 8601 time with an offset, e.g. 2026-11-23T09:31:00+08:00")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise Invalid(f"not a valid time: {exc}") from None
    else:
        raise Invalid("must be an ISO 8601 time string")
    _year_ok(moment.year)
    if moment.tzinfo is None or moment.utcoffset() is None:
        if naive_tz is None:
            raise Invalid("needs an offset (e.g. +08:00 or Z)")
        moment = moment.replace(tzinfo=naive_tz)
    try:
        if not EARLIEST <= moment <= LATEST:
            raise Invalid(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    except OverflowError:  # year 1 or 9999 with an offset past the calendar's ends
        raise Invalid(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}") from None
    return moment


def parse_day(value: Any) -> date:
    """A date ``YYYY-MM-DD`` (ASCII) in 1970–2100."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise Invalid(f"is not a date: {value!r}") from None
    else:
        shown = value[:20] if isinstance(value, str) else type(value).__name__
        raise Invalid(f"must be a date YYYY-MM-DD, got {shown!r}")
    _year_ok(day.year)
    return day


def parse_month(value: Any) -> date:
    """A month ``YYYY-MM`` (ASCII) in 1970–2100, as its first day."""
    found = _ISO_MONTH.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        shown = value[:20] if isinstance(value, str) else type(value).__name__
        raise Invalid(f"must be a month YYYY-MM, got {shown!r}")
    year, month = int(found.group(1)), int(found.group(2))
    _year_ok(year)
    if not 1 <= month <= 12:
        raise Invalid(f"month {month} is not 01–12")
    return date(year, month, 1)


# -- the command line -------------------------------------------------------------------


def cli(parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse` as an argparse ``type=``: a refusal is argparse's usage error (exit 2)
    naming the option, never a traceback.  (Arguments the OS could not decode arrive as
    lone surrogates: the text rule refuses them.)"""

    def convert(raw: str) -> T:
        try:
            return parse(raw)
        except Invalid as exc:
            raise argparse.ArgumentTypeError(f"{shown(raw)!r}: {exc}") from None

    convert.__name__ = getattr(parse, "__name__", "value").removeprefix("parse_")
    return convert


def cli_text(max_len: int) -> Callable[[str], str]:
    """A command-line text argument of at most `max_len` characters."""

    def text(raw: str) -> str:
        check_text(raw)
        if len(raw) > max_len:
            raise Invalid(f"longer than {max_len} characters")
        return raw

    return cli(text)


def cli_whole(low: int, high: int) -> Callable[[str], int]:
    """A command-line whole number in ``low..high`` (ASCII digits)."""
    return cli(lambda raw: parse_id(raw, low=low, high=high))
