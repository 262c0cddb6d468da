"""The query string every Tencent callback signs (公众号, 企业微信 / 微信客服).

Both channels get ``timestamp`` and ``nonce`` (and ``signature`` and/or
``msg_signature``) in the query string and check a signature over them; before
that, the values must be well formed, and the timestamp is compared with our
clock.  A timestamp outside the allowed window is logged loudly either way
(our clock or Tencent's is wrong, or a captured request is being replayed);
whether it is also refused is the channel's choice (`refuse_stale`): the
公众号 edge never refuses a signed message for it, because its MsgId makes a
replay harmless while a refusal loses the customer's message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.http import ApiError

__all__ = ["CallbackQuery"]

log = logging.getLogger("bot.channels")

# ASCII digits only: str.isdigit() would let "١٧٠٠" through to int().
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_MAX_NONCE = 64
_MAX_SIGNATURE = 64


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    """The signed values of a callback's query string, checked for shape."""

    timestamp: str
    nonce: str
    signature: str
    msg_signature: str
    # Seconds between the timestamp and our clock.
    skew_s: float

    @classmethod
    def parse(
        cls,
        query: Mapping[str, str],
        now: datetime,
        *,
        max_skew_s: float,
        refuse_stale: bool,
        channel: str,
    ) -> CallbackQuery:
        """The query's signed values, or an `ApiError` saying what is wrong with them.

        `max_skew_s` 0 turns the clock comparison off (for replaying recorded callbacks).
        """
        timestamp = query.get("timestamp", "")
        nonce = query.get("nonce", "")
        signature = query.get("signature", "")
        msg_signature = query.get("msg_signature", "")
        if not _UNIX_SECONDS.fullmatch(timestamp):
            raise ApiError(400, "bad_timestamp", "timestamp must be Unix seconds")
        if not nonce or len(nonce) > _MAX_NONCE:
            raise ApiError(
                400, "bad_nonce", f"nonce is missing or longer than {_MAX_NONCE} characters"
            )
        if len(signature) > _MAX_SIGNATURE or len(msg_signature) > _MAX_SIGNATURE:
            raise ApiError(403, "bad_signature", "signature is malformed")
        skew = now.timestamp() - int(timestamp)
        if max_skew_s and abs(skew) > max_skew_s:
            # Loud on purpose: a wrong clock here or at Tencent refuses (kf) or
            # questions (公众号) every callback until someone fixes it.
            log.error(
                "%s callback timestamp is %+.0fs from our clock (allowed ±%gs): check NTP on "
                "this host; %s",
                channel,
                -skew,
                max_skew_s,
                "refused" if refuse_stale else "accepted (signed, de-duplicated by its id)",
            )
            if refuse_stale:
                raise ApiError(
                    403,
                    "stale_timestamp",
                    f"timestamp is {abs(skew):.0f}s away from our clock (allowed: {max_skew_s:g}s)",
                )
        return cls(timestamp, nonce, signature, msg_signature, skew)
