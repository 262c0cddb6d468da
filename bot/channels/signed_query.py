"""The timestamp and nonce that every Tencent callback signs (公众号, 企业微信 / 微信客服).

Both channels get ``timestamp`` and ``nonce`` in the query string and check a
signature over them; before that, the two values must be well formed and the
timestamp close to our clock, so that a captured request replayed later is refused
even with a valid signature.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from bot.http import ApiError

__all__ = ["checked_timestamp_nonce"]

# ASCII digits only: str.isdigit() would let "١٧٠٠" through to int().
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_MAX_NONCE = 64


def checked_timestamp_nonce(
    query: Mapping[str, str], now: datetime, max_skew_s: float
) -> tuple[str, str]:
    """``(timestamp, nonce)`` of a callback's query, or `ApiError` saying what is wrong.

    `max_skew_s` 0 turns the clock check off (for replaying recorded callbacks).
    """
    timestamp = query.get("timestamp", "")
    nonce = query.get("nonce", "")
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise ApiError(400, "bad_timestamp", "timestamp must be Unix seconds")
    if not nonce or len(nonce) > _MAX_NONCE:
        raise ApiError(400, "bad_nonce", f"nonce is missing or longer than {_MAX_NONCE} characters")
    if max_skew_s:
        skew = abs(now.timestamp() - int(timestamp))
        if skew > max_skew_s:
            raise ApiError(
                403,
                "stale_timestamp",
                f"timestamp is {skew:.0f}s away from our clock (allowed: {max_skew_s:g}s)",
            )
    return timestamp, nonce
