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

Every line is sent with our own msgid, ``as<line id>`` (``as<line id>p<n>``
for the n-th part of a long line), so that a later ``msg_send_fail`` event
names the line it is about, and a send that is repeated under the same msgid
reaches the customer once.  An engineer's image or file is uploaded as
temporary media (`media/upload`) and sent with `send_msg` (msgtype image /
file) under the same msgid rule; it is never resent as its 「[图片]」 label.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select

from bot.channels.wechat_api import ApiAnswer, ApiUnavailable, SendOutcomeUnknown
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.wecom_kf_api import (
    ERRCODE_SESSION_STATE,
    ERRCODES_BLOCKED_BY_CHANNEL,
    ERRCODES_TOKEN_INVALID,
    KF_TEXT_MAX_BYTES,
    STATE_API,
    STATE_NAMES,
    STATE_NEW,
    WeComKfApi,
    refused_as_repeat,
)
from bot.channels.wecom_kf_config import CHANNEL
from bot.channels.window import (
    SERVICE_WINDOW,
    SERVICE_WINDOW_MESSAGES,
    window_state,
)
from bot.context import Services
from bot.messages import DeliveryResult, OutboundMedia, OutboundMessage
from storage.models import Customer, DeliveryStatus, Message, MessageRole, Ticket

log = logging.getLogger("bot.channels.wecom_kf")

# A customer key of an anonymised customer (`Customer.anonymise`).
_ANONYMISED_PREFIX = "anon:"
_MSGID = re.compile(r"as([0-9]{1,18})(?:p[0-9]{1,3})?")

T = TypeVar("T")


def line_msgid(message_id: int, part: int = 1) -> str:
    """Our send_msg msgid for (a part of) a stored line (WeCom: ≤ 32 of [0-9a-zA-Z_-])."""
    return f"as{message_id}" if part == 1 else f"as{message_id}p{part}"


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

    async def welcome(self, code: str, text: str) -> bool:
        """Send the welcome line with an enter_session `code`; whether WeCom took it."""
        try:
            answer = await self.call(
                lambda token: self.api.send_msg_on_event(token, code, text), _errcode
            )
        except (SendOutcomeUnknown, ApiUnavailable) as exc:
            log.warning("wecom kf: welcome not confirmed (not repeated): %s", exc)
            return False
        if not answer.ok:
            log.info("wecom kf: welcome refused: errcode %s %s", answer.errcode, answer.errmsg)
        return answer.ok

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


def split_for_kf(text: str, limit: int = KF_TEXT_MAX_BYTES) -> list[str]:
    """`text` in parts of at most `limit` UTF-8 bytes, cut after a line break where one
    falls in the second half of a part, else between characters (never inside one)."""
    parts: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        cut = len(rest.encode("utf-8")[:limit].decode("utf-8", "ignore"))
        newline = rest.rfind("\n", 0, cut)
        if newline >= cut // 2:
            cut = newline + 1
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts


class WeComKfSender:
    """`ChannelSender` for WeCom kf: `send_msg` within the session-state and window rules.

    A line over WeCom's 2,048 bytes is sent in parts (each with its own msgid),
    as long as the window has room for all of them; otherwise it is refused
    naming the sizes.  A send whose outcome is unknown (a timeout, a 5xx) is
    recorded ``unknown`` and not repeated at once; `reconcile` later sends it
    again under the same msgid, which WeCom refuses as a repeat if the first
    attempt arrived — either way the customer has it exactly once.
    """

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
        window = await window_state(
            self._services.sessionmaker, CHANNEL, message.customer_id, excluding=message.message_id
        )
        blocked = window.refusal(self._services.now(), "WeCom")
        if message.media is not None:
            # One message: the window's refusal (48 h, 5 lines) is the whole check.
            if blocked is not None:
                log.info("wecom kf line %s not sent: %s", message.message_id, blocked)
                return DeliveryResult("blocked_by_channel", blocked)
            return await self._send_media(*parts, message.media, message.message_id)
        pieces = split_for_kf(message.text)
        room = SERVICE_WINDOW_MESSAGES - window.sent_since
        if blocked is None and len(pieces) > room:
            blocked = (
                f"the line is {len(message.text.encode('utf-8'))} bytes; WeCom takes at most "
                f"{KF_TEXT_MAX_BYTES} per message, so it needs {len(pieces)} messages, but only "
                f"{room} of the {SERVICE_WINDOW_MESSAGES} allowed since the customer's last "
                "message are left: shorten it"
            )
        if blocked is not None:
            log.info("wecom kf line %s not sent: %s", message.message_id, blocked)
            return DeliveryResult("blocked_by_channel", blocked)
        open_kfid, user = parts
        return await self._send_parts(open_kfid, user, pieces, message.message_id)

    async def _send_parts(
        self, open_kfid: str, user: str, pieces: list[str], message_id: int
    ) -> DeliveryResult:
        for number, piece in enumerate(pieces, start=1):
            msgid = line_msgid(message_id, number)
            try:
                result = await self._send(open_kfid, user, piece, msgid)
            except SendOutcomeUnknown as exc:
                result = DeliveryResult("unknown", f"{exc} (msgid {msgid})")
            except ApiUnavailable as exc:
                result = DeliveryResult("failed", str(exc))
            if result.problem:
                if len(pieces) == 1:
                    return result
                done = f" (parts 1–{number - 1} sent)" if number > 1 else ""
                where = f"part {number} of {len(pieces)}"
                return DeliveryResult(result.status, f"{where}: {result.detail}{done}")
        return DeliveryResult("sent", f"in {len(pieces)} parts" if len(pieces) > 1 else None)

    async def _send_media(
        self, open_kfid: str, user: str, media: OutboundMedia, message_id: int
    ) -> DeliveryResult:
        """Upload the file as temporary media, then send it with `send_msg` under the
        line's msgid.  A failed upload reached nobody: a plain failure."""
        kind = "image" if media.kind == "image" else "file"
        try:
            data = Path(media.path).read_bytes()
        except OSError as exc:
            return DeliveryResult("failed", f"the stored file cannot be read: {exc}")
        name = media.filename or Path(media.path).name
        try:
            uploaded = await self._client.call(
                lambda token: self._client.api.upload_media(
                    token, kind, data, name, media.content_type
                ),
                _errcode,
            )
        except ApiUnavailable as exc:
            return DeliveryResult("failed", str(exc))
        media_id = uploaded.body.get("media_id")
        if not uploaded.ok or not isinstance(media_id, str) or not media_id:
            return DeliveryResult(
                "failed", f"media/upload: errcode {uploaded.errcode}: {uploaded.errmsg}"
            )
        msgid = line_msgid(message_id)
        try:
            return await self._send(open_kfid, user, media_id, msgid, msgtype=kind)
        except SendOutcomeUnknown as exc:
            return DeliveryResult("unknown", f"{exc} (msgid {msgid})")
        except ApiUnavailable as exc:
            return DeliveryResult("failed", str(exc))

    async def _send(
        self, open_kfid: str, user: str, text: str, msgid: str, *, msgtype: str = "text"
    ) -> DeliveryResult:
        async def attempt() -> ApiAnswer:
            return await self._client.call(
                lambda token: self._client.api.send_msg(
                    token, open_kfid, user, text, msgid, msgtype=msgtype
                ),
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
        if refused_as_repeat(answer):
            return DeliveryResult(
                "sent", f"WeCom already has msgid {msgid}: an earlier attempt arrived"
            )
        blocked = ERRCODES_BLOCKED_BY_CHANNEL.get(answer.errcode)
        if blocked is not None:
            return DeliveryResult("blocked_by_channel", blocked)
        return DeliveryResult("failed", f"errcode {answer.errcode}: {answer.errmsg}")

    async def reconcile(self, *, settle_after_s: float = 30, max_attempts: int = 3) -> int:
        """Send every ``unknown`` kf line again under its own msgid; the number settled.

        Only lines whose window is still open, that have been unknown for at least
        `settle_after_s` (a ``msg_send_fail`` may settle them first) and that were
        tried fewer than `max_attempts` times.  WeCom taking the resend, or
        refusing it as a repeat, settles the line as sent; any other answer
        leaves it ``unknown`` for the engineer (the first attempt may still have
        arrived), with what WeCom said.
        """
        now = self._services.now()
        async with self._services.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Message.id, Message.text, Customer.external_id)
                    .join(Ticket, Message.ticket_id == Ticket.id)
                    .join(Customer, Ticket.customer_id == Customer.id)
                    .where(
                        Message.channel == CHANNEL,
                        Message.role == MessageRole.AGENT,
                        Message.delivery_status == DeliveryStatus.UNKNOWN,
                        # An image or file is not resent as its 「[图片]」 label: left
                        # ``unknown`` for the engineer, who confirms it or uploads it again.
                        Message.kind == "text",
                        Message.delivery_attempts < max_attempts,
                        Message.sent_at > now - SERVICE_WINDOW,
                        Message.sent_at < now - timedelta(seconds=settle_after_s),
                    )
                    .order_by(Message.id)
                )
            ).all()
        settled = 0
        for message_id, text, key in rows:
            parts = split_customer_key(key)
            window = await window_state(
                self._services.sessionmaker, CHANNEL, key, excluding=message_id
            )
            if parts is None or window.refusal(now, "WeCom") is not None:
                continue
            result = await self._send_parts(*parts, split_for_kf(text), message_id)
            if result.status != "sent":
                result = DeliveryResult(
                    "unknown", f"the resend under the same msgid was not taken: {result.detail}"
                )
            else:
                settled += 1
                log.info("wecom kf line %s settled: %s", message_id, result.detail or "sent")
            await self._services.tickets.record_delivery(message_id, result)
        return settled
