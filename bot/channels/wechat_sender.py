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
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.wechat_api import (
    ERRCODES_BLOCKED_BY_CHANNEL,
    ERRCODES_TOKEN_INVALID,
    ApiUnavailable,
    WeChatApi,
)
from bot.channels.wechat_config import CHANNEL
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.window import WindowState, sends_since_last_message
from bot.messages import DeliveryResult, OutboundMessage
from storage.models import Message, MessageRole

log = logging.getLogger("bot.channels.wechat")

# The core stores the lines answering a customer message in the same
# transaction; a line stored later than this after the message is not one.
REPLY_LINES_WITHIN = timedelta(seconds=10)


async def replies_to(
    sessionmaker: async_sessionmaker[AsyncSession], message_id: int
) -> list[OutboundMessage]:
    """The lines stored in answer to a customer message (for a redelivery of it).

    WeChat redelivers when our answer did not reach it within 5 s, so the
    passive reply it still waits for is the one the first delivery made: the
    agent lines of the same ticket stored right after the message and before
    the customer's next one.
    """
    async with sessionmaker() as session:
        asked = await session.get(Message, message_id)
        if asked is None or asked.ticket_id is None:
            return []
        following = (
            await session.execute(
                select(Message)
                .where(Message.ticket_id == asked.ticket_id, Message.id > message_id)
                .order_by(Message.id)
                .limit(10)
            )
        ).scalars()
        answered_by = asked.sent_at + REPLY_LINES_WITHIN
        replies: list[OutboundMessage] = []
        for line in following:
            if line.role == MessageRole.CUSTOMER or line.sent_at > answered_by:
                break
            if line.role != MessageRole.AGENT:
                continue
            replies.append(
                OutboundMessage(
                    channel=CHANNEL,
                    customer_id=asked.sender or "",
                    text=line.text,
                    staff_no=line.sender,
                    prompted_by=line.prompted_by,
                    message_id=line.id,
                )
            )
        return replies


async def window_state(
    sessionmaker: async_sessionmaker[AsyncSession], openid: str, *, excluding: int | None = None
) -> WindowState:
    """The customer's last message time and the custom-service lines sent since.

    Counted are agent lines after that message whose delivery is recorded as
    sent, except the passive replies to it (they do not use the window) and
    the line `excluding` (the one about to be sent).  Only confirmed sends
    count, so a gap in the record can let one line too many through — WeChat
    then answers 45047, recorded as blocked like this check — but never
    blocks a line WeChat would take.
    """
    last = await sends_since_last_message(sessionmaker, CHANNEL, openid)
    if last is None:
        return WindowState(last_customer_at=None, sent_since=0)
    passive = {reply.message_id for reply in await replies_to(sessionmaker, last.message_id)}
    sent = last.sent_since - (passive | {excluding})
    return WindowState(last_customer_at=last.at, sent_since=len(sent))


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
        window = await window_state(self._sessionmaker, openid, excluding=message.message_id)
        blocked = window.refusal(self._now(), "WeChat")
        if blocked is not None:
            log.info("wechat line %s not sent: %s", message.message_id, blocked)
            return DeliveryResult("blocked_by_channel", blocked)
        try:
            return await self._send(openid, message.text)
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
