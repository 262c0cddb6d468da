"""The 公众号 sender: every line after the passive reply, by `message/custom/send`.

WeChat accepts customer-service messages for 48 h after the customer's last
message, at most 5 of them; a line it refuses for that reason (45015, 45047,
or 43004: the customer unfollowed) is `blocked_by_channel`, recorded apart
from a failure.  The 48 h deadline is checked before calling; the count is
WeChat's to keep (it is per account across all our workers).  The access
token is shared through the database (`wechat_token`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.wechat_api import (
    ERRCODES_BLOCKED_BY_CHANNEL,
    ERRCODES_TOKEN_INVALID,
    ApiUnavailable,
    SendOutcomeUnknown,
    WeChatApi,
)
from bot.channels.wechat_config import CHANNEL
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.window import window_state
from bot.messages import DeliveryResult, OutboundMessage

log = logging.getLogger("bot.channels.wechat")


# A WeChat openid never has this shape: it is what `Customer.anonymise` leaves
# after an unsubscribe, and nobody can be messaged there.
_ANONYMISED_PREFIX = "anon:"


class WeChatSender:
    """`ChannelSender` for WeChat: `message/custom/send` within the service window."""

    channel = CHANNEL

    def __init__(
        self,
        api: WeChatApi,
        token: SharedAccessToken,
        sessionmaker: async_sessionmaker[AsyncSession],
        now: Callable[[], datetime],
    ) -> None:
        self._api = api
        self._token = token
        self._sessionmaker = sessionmaker
        self._now = now

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        openid = message.customer_id
        if not openid or openid.startswith(_ANONYMISED_PREFIX):
            return DeliveryResult(
                "blocked_by_channel", "the customer unfollowed; their WeChat id was deleted"
            )
        window = await window_state(
            self._sessionmaker, CHANNEL, openid, excluding=message.message_id
        )
        blocked = window.refusal(self._now(), "WeChat")
        if blocked is not None:
            log.info("wechat line %s not sent: %s", message.message_id, blocked)
            return DeliveryResult("blocked_by_channel", blocked)
        try:
            return await self._send(openid, message.text)
        except SendOutcomeUnknown as exc:
            # custom/send has no idempotency key: never repeated on our own.
            return DeliveryResult(
                "unknown", f"{exc}; not repeated: the customer may have it (no idempotency key)"
            )
        except ApiUnavailable as exc:
            return DeliveryResult("failed", str(exc))

    async def _send(self, openid: str, text: str) -> DeliveryResult:
        token = await self._token.get()
        answer = await self._api.send_text(token, openid, text)
        if answer.errcode in ERRCODES_TOKEN_INVALID:
            # Someone (a forced refresh elsewhere, WeChat itself) retired the
            # token: invalidate it for every worker and try once more.
            await self._token.invalidate(token)
            token = await self._token.get()
            answer = await self._api.send_text(token, openid, text)
        if answer.ok:
            return DeliveryResult("sent")
        blocked = ERRCODES_BLOCKED_BY_CHANNEL.get(answer.errcode)
        if blocked is not None:
            return DeliveryResult("blocked_by_channel", blocked)
        return DeliveryResult("failed", f"errcode {answer.errcode}: {answer.errmsg}")
