"""The timestamp and nonce checks both Tencent callbacks share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.channels.signed_query import checked_timestamp_nonce
from bot.http import ApiError

NOW = datetime(2026, 11, 23, 1, 0, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))


def _error(query: dict[str, str], max_skew_s: float = 300) -> tuple[int, str]:
    with pytest.raises(ApiError) as raised:
        checked_timestamp_nonce(query, NOW, max_skew_s)
    return raised.value.status, raised.value.code


def test_a_fresh_query_passes() -> None:
    query = {"timestamp": str(int(NOW.timestamp()) - 299), "nonce": "n0nce"}
    assert checked_timestamp_nonce(query, NOW, 300) == (query["timestamp"], "n0nce")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"nonce": "x"}, (400, "bad_timestamp")),
        ({"timestamp": "-5", "nonce": "x"}, (400, "bad_timestamp")),
        ({"timestamp": "١٧٦٣٨٥٩٦٠٠", "nonce": "x"}, (400, "bad_timestamp")),  # not ASCII
        ({"timestamp": "1" * 13, "nonce": "x"}, (400, "bad_timestamp")),
        ({"timestamp": STAMP}, (400, "bad_nonce")),
        ({"timestamp": STAMP, "nonce": "n" * 65}, (400, "bad_nonce")),
        ({"timestamp": str(int(NOW.timestamp()) - 301), "nonce": "x"}, (403, "stale_timestamp")),
        ({"timestamp": str(int(NOW.timestamp()) + 301), "nonce": "x"}, (403, "stale_timestamp")),
    ],
)
def test_malformed_or_stale_queries_are_refused(
    query: dict[str, str], expected: tuple[int, str]
) -> None:
    assert _error(query) == expected


def test_no_skew_limit_accepts_an_old_recorded_callback() -> None:
    assert checked_timestamp_nonce({"timestamp": "1000", "nonce": "x"}, NOW, 0) == ("1000", "x")
