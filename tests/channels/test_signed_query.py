"""The timestamp and nonce checks both Tencent callbacks share."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.channels.signed_query import CallbackQuery
from bot.http import ApiError

NOW = datetime(2026, 11, 23, 1, 0, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))


def _parse(
    query: dict[str, str], max_skew_s: float = 300, *, refuse_stale: bool = True
) -> CallbackQuery:
    return CallbackQuery.parse(
        query, NOW, max_skew_s=max_skew_s, refuse_stale=refuse_stale, channel="test"
    )


def _error(query: dict[str, str], max_skew_s: float = 300) -> tuple[int, str]:
    with pytest.raises(ApiError) as raised:
        _parse(query, max_skew_s)
    return raised.value.status, raised.value.code


def test_a_fresh_query_passes() -> None:
    query = {"timestamp": str(int(NOW.timestamp()) - 299), "nonce": "n0nce"}
    parsed = _parse(query)
    assert (parsed.timestamp, parsed.nonce) == (query["timestamp"], "n0nce")
    assert parsed.skew_s == 299


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"nonce": "x"}, (400, "bad_timestamp")),
        ({"timestamp": "-5", "nonce": "x"}, (400, "bad_timestamp")),
        ({"timestamp": "١٧٦٣٨٥٩٦٠٠", "nonce": "x"}, (400, "bad_timestamp")),  # not ASCII
        ({"timestamp": "1" * 13, "nonce": "x"}, (400, "bad_timestamp")),
        ({"timestamp": STAMP}, (400, "bad_nonce")),
        ({"timestamp": STAMP, "nonce": "n" * 65}, (400, "bad_nonce")),
        ({"timestamp": STAMP, "nonce": "x", "signature": "s" * 65}, (403, "bad_signature")),
        ({"timestamp": str(int(NOW.timestamp()) - 301), "nonce": "x"}, (403, "stale_timestamp")),
        ({"timestamp": str(int(NOW.timestamp()) + 301), "nonce": "x"}, (403, "stale_timestamp")),
    ],
)
def test_malformed_or_stale_queries_are_refused(
    query: dict[str, str], expected: tuple[int, str]
) -> None:
    assert _error(query) == expected


def test_no_skew_limit_accepts_an_old_recorded_callback() -> None:
    parsed = _parse({"timestamp": "1000", "nonce": "x"}, 0)
    assert (parsed.timestamp, parsed.nonce) == ("1000", "x")


def test_a_stale_timestamp_is_logged_loudly_and_accepted_where_the_channel_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stale = str(int(NOW.timestamp()) - 3600)
    with caplog.at_level(logging.ERROR, logger="bot.channels"):
        parsed = _parse({"timestamp": stale, "nonce": "x"}, refuse_stale=False)
    assert parsed.skew_s == 3600
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "+3600s" not in record.getMessage() and "-3600s from our clock" in record.getMessage()
    assert "NTP" in record.getMessage() and "accepted" in record.getMessage()
