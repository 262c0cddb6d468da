"""Sending on WeCom 微信客服 (kf): `send_msg` within the session-state and window rules.

`send_msg` works only while the session is 0 (未处理) or 1 (由智能助手接待),
within 48 h of the customer's last message and for at most 5 lines.  When a
customer's first message opens a ticket the syncer moves the session 0 → 1
with `service_state/trans` (`KfClient.take_over`): the conversation is then
handled through the API — by this bot, speaking for the assigned engineer
from the console — and leaves WeCom's unassigned pool.  It is deliberately
never moved to 3 (由人工接待): there WeCom refuses `send_msg` (95018), and
the engineer's replies would bypass the pre-send check.  A send refused with
95018 looks the state up: a new session (0, after the old one ended) is taken
over and the line sent again; 2, 3 or 4 (someone took it in the WeCom client,
or it ended) is `blocked_by_channel` naming the state.  The 48 h / 5-line
rule is checked before calling and WeCom's own refusals (95001, 95002,
95013) are `blocked_by_channel` too, apart from failures.

Every line is sent with our own msgid, ``as<line id>``, so that a later
``msg_send_fail`` event names the line it is about.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.channels.wechat_api import ApiAnswer, ApiUnavailable
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.wecom_kf_api import (
    ERRCODE_SESSION_STATE,
    ERRCODES_BLOCKED_BY_CHANNEL,
    ERRCODES_TOKEN_INVALID,
    STATE_API,
    STATE_NAMES,
    STATE_NEW,
    WeComKfApi,
)
from bot.channels.wecom_kf_config import CHANNEL
from bot.channels.window import WindowState, sends_since_last_message
from bot.context import Services
from bot.messages import DeliveryResult, OutboundMessage

log = logging.getLogger("bot.channels.wecom_kf")

# A customer key of an anonymised customer (`Customer.anonymise`).
_ANONYMISED_PREFIX = "anon:"
_MSGID = re.compile(r"as([0-9]{1,18})")

T = TypeVar("T")


def line_msgid(message_id: int) -> str:
    """Our send_msg msgid for a stored line (WeCom: ≤ 32 of [0-9a-zA-Z_-])."""
    return f"as{message_id}"


def line_of_msgid(msgid: str) -> int | None:
    """The stored line a msgid of ours names; None for a msgid not sent by this bot."""
    match = _MSGID.fullmatch(msgid)
    return int(match.group(1)) if match else None


def customer_key(open_kfid: str, external_userid: str) -> str:
    """The customer's identity on this channel: sending needs both ids."""
    return f"{open_kfid}:{external_userid}"


def split_customer_key(key: str) -> tuple[str, str] | None:
    """(open_kfid, external_userid) of a customer key, or None when it is not one."""
    open_kfid, sep, user = key.partition(":")
    if not sep or not user or key.startswith(_ANONYMISED_PREFIX):
        return None
    return open_kfid, user


class KfClient:
    """The kf API with the shared access token: a call whose token WeCom calls invalid
    gets the token invalidated for every worker and is made once more."""

    def __init__(self, api: WeComKfApi, token: SharedAccessToken) -> None:
        self.api = api
        self._token = token

    async def call(self, make: Callable[[str], Awaitable[T]], errcode_of: Callable[[T], int]) -> T:
        token = await self._token.get()
        answer = await make(token)
        if errcode_of(answer) in ERRCODES_TOKEN_INVALID:
            await self._token.invalidate(token)
            answer = await make(await self._token.get())
        return answer

    async def state(self, open_kfid: str, user: str) -> int | None:
        """The session state, or None when WeCom did not say."""
        answer = await self.call(
            lambda token: self.api.service_state(token, open_kfid, user), _errcode
        )
        state = answer.body.get("service_state")
        if not answer.ok or not isinstance(state, int):
            log.warning(
                "wecom kf: service_state/get for %s: errcode %s %s",
                open_kfid,
                answer.errcode,
                answer.errmsg,
            )
            return None
        return state

    async def take_over(self, open_kfid: str, user: str) -> int | None:
        """Move a new session (0) to 1 (handled through the API); the state it is in after."""
        state = await self.state(open_kfid, user)
        if state != STATE_NEW:
            return state
        answer = await self.call(
            lambda token: self.api.trans_state(token, open_kfid, user, STATE_API), _errcode
        )
        if not answer.ok:
            log.warning(
                "wecom kf: service_state/trans 0 -> 1 refused: errcode %s %s",
                answer.errcode,
                answer.errmsg,
            )
            return STATE_NEW
        log.info("wecom kf: session of a customer of %s taken over (0 -> 1)", open_kfid)
        return STATE_API


def _errcode(answer: ApiAnswer) -> int:
    return answer.errcode


async def kf_window(services: Services, key: str, *, excluding: int | None) -> WindowState:
    """Where a customer stands in the 48 h / 5-line window (sent lines counted as WeCom
    counts them: every send_msg after the customer's last message)."""
    last = await sends_since_last_message(services.sessionmaker, CHANNEL, key)
    if last is None:
        return WindowState(last_customer_at=None, sent_since=0)
    return WindowState(last_customer_at=last.at, sent_since=len(last.sent_since - {excluding}))


class WeComKfSender:
    """`ChannelSender` for WeCom kf: `send_msg` within the session-state and window rules."""

    channel = CHANNEL

    def __init__(self, services: Services, client: KfClient) -> None:
        self._services = services
        self._client = client

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        parts = split_customer_key(message.customer_id)
        if parts is None:
            return DeliveryResult(
                "blocked_by_channel", "no WeCom kf address (customer data deleted?)"
            )
        if message.message_id is None:
            return DeliveryResult("failed", "kf lines are sent after they are stored")
        window = await kf_window(self._services, message.customer_id, excluding=message.message_id)
        blocked = window.refusal(self._services.now(), "WeCom")
        if blocked is not None:
            log.info("wecom kf line %s not sent: %s", message.message_id, blocked)
            return DeliveryResult("blocked_by_channel", blocked)
        open_kfid, user = parts
        try:
            return await self._send(open_kfid, user, message.text, message.message_id)
        except ApiUnavailable as exc:
            return DeliveryResult("failed", str(exc))

    async def _send(self, open_kfid: str, user: str, text: str, message_id: int) -> DeliveryResult:
        msgid = line_msgid(message_id)

        async def attempt() -> ApiAnswer:
            return await self._client.call(
                lambda token: self._client.api.send_msg(token, open_kfid, user, text, msgid),
                _errcode,
            )

        answer = await attempt()
        if answer.errcode == ERRCODE_SESSION_STATE:
            state = await self._client.take_over(open_kfid, user)
            if state != STATE_API:
                name = STATE_NAMES.get(state, "unknown") if state is not None else "unknown"
                return DeliveryResult(
                    "blocked_by_channel",
                    f"session state {state} ({name}): WeCom lets the API send only in 0 or 1 "
                    "(95018)",
                )
            answer = await attempt()
        if answer.ok:
            return DeliveryResult("sent")
        blocked = ERRCODES_BLOCKED_BY_CHANNEL.get(answer.errcode)
        if blocked is not None:
            return DeliveryResult("blocked_by_channel", blocked)
        return DeliveryResult("failed", f"errcode {answer.errcode}: {answer.errmsg}")
