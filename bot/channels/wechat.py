"""The WeChat Official Account channel (公众号): the `/wechat` webhook.

Inbound (`GET` / `POST /wechat`)
    `GET` is WeChat's URL verification: a valid `signature` over token,
    timestamp and nonce gets `echostr` back (an encrypted `echostr` with a
    `msg_signature` is decrypted first, as WeCom does it); a stale timestamp
    is refused there.  `POST` carries a message in plaintext, compatible
    (plaintext and `<Encrypt>`) or safe mode (`encrypt_type=aes`: only
    `<Encrypt>`; the reply is encrypted too).  Signatures are compared in
    constant time; the current and the previous EncodingAESKey both decrypt
    (key rotation).  Only a bad signature or a malformed envelope (not XML, a
    DTD, no sender, a body over the size limit) is refused, with a 4xx and one
    log line, never a 500 and never a write: a refusal makes WeChat retry and
    then tell the customer the account is unavailable.  So a long text is
    stored whole, an unknown MsgType is stored as kind ``unknown``, and a
    timestamp far off our clock is logged loudly and taken (its MsgId makes a
    replay harmless).

    A message becomes one `InboundMessage`, is written to the intake journal
    and handed to the core (`wechat_intake`), which stores it (the unique
    (channel, external_id) constraint makes a redelivery a no-op) and returns
    the immediate lines — the greeting — which go back as the passive reply,
    recorded ``answered``.  Work that does not finish within the reply budget
    is answered ``success`` and its lines follow by custom/send.  A
    redelivery gets the same passive reply, or ``success`` when there is none
    left to give.

Events
    ``unsubscribe``: WeChat's platform rules (and PIPL) require an account to
    delete a user's personal data once the user stops following it; the
    core's `TicketService.forget_customer` erases it everywhere (the openid
    becomes ``anon:<customer id>``, also inside message ids; the customer's
    message texts are deleted, numbers and names in everything else starred)
    and closes their open tickets with a ``customer_forgotten`` note; the
    tickets' times stay as the company's service record (docs/privacy.md).
    Nothing can be sent there afterwards.  ``subscribe`` (also by scanning a code), ``SCAN``
    and menu ``CLICK`` are answered with the welcome line (`welcome`) as
    configured; no event is stored.

Outbound
    Every later line goes through `message/custom/send`: see `wechat_sender`.

Configuration
    See `wechat_config`: `/wechat` is mounted always and answers 503 naming
    the variables still unset.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiohttp import web

from bot.channels.edge import ChannelEndpoint, mount_webhook, periodically, read_body, success
from bot.channels.signed_query import CallbackQuery
from bot.channels.wechat_api import WeChatApi
from bot.channels.wechat_config import CHANNEL, WeChatConfig
from bot.channels.wechat_crypto import CryptoRejected, MessageCrypto, signature_matches
from bot.channels.wechat_intake import PASSIVE, IntakeSweep, WeChatIntake, replies_to
from bot.channels.wechat_sender import WeChatSender
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.wechat_xml import (
    XmlRejected,
    decode_body,
    encrypted_payload,
    parse_xml,
    render_text_reply,
    to_inbound,
)
from bot.channels.welcome import welcome_line
from bot.context import SERVICES, SETTINGS, Services
from bot.http import ApiError
from bot.messages import InboundMessage
from storage.models import DeliveryStatus

__all__ = ["PATH", "WECHAT", "WeChatEndpoint", "receive", "setup", "verify_url"]

log = logging.getLogger("bot.channels.wechat")

PATH = "/wechat"


def _new_nonce() -> str:
    return str(secrets.randbelow(10**10))


def _unix_seconds(at: datetime) -> int:
    return int(at.timestamp())


@dataclass(slots=True)
class WeChatEndpoint(ChannelEndpoint[WeChatConfig]):
    """What the `/wechat` handlers need, fixed when the app is built."""

    label = "WeChat"

    crypto: MessageCrypto | None = None
    # Set with the core (the sender's cleanup context).
    intake: WeChatIntake | None = None

    def require_intake(self) -> WeChatIntake:
        if self.intake is None:  # pragma: no cover - set before the app serves
            raise ApiError(503, "not_ready", "the WeChat channel is not running yet")
        return self.intake


WECHAT = web.AppKey("wechat", WeChatEndpoint)


@dataclass(frozen=True, slots=True)
class _Query:
    signed: CallbackQuery
    encrypted: bool

    @property
    def timestamp(self) -> str:
        return self.signed.timestamp

    @property
    def nonce(self) -> str:
        return self.signed.nonce


def _check_query(
    request: web.Request, config: WeChatConfig, now: datetime, *, refuse_stale: bool
) -> _Query:
    """The signed query parameters, with the timestamp compared with our clock."""
    signed = CallbackQuery.parse(
        request.query,
        now,
        max_skew_s=config.max_skew_s,
        refuse_stale=refuse_stale,
        channel="wechat",
    )
    encrypt_type = request.query.get("encrypt_type", "raw").lower()
    if encrypt_type not in ("raw", "aes"):
        raise ApiError(400, "bad_encrypt_type", f"encrypt_type {encrypt_type[:20]!r} is unknown")
    return _Query(signed=signed, encrypted=encrypt_type == "aes")


def _check_plain_signature(config: WeChatConfig, query: _Query, *, required: bool) -> None:
    signature = query.signed.signature
    if not signature:
        if required:
            raise ApiError(403, "bad_signature", "signature is missing")
        return
    if not signature_matches(signature, config.token, query.timestamp, query.nonce):
        raise ApiError(403, "bad_signature", "signature does not match")


def _decrypt(crypto: MessageCrypto, payload: str, query: _Query) -> tuple[str, int]:
    """The plaintext in `payload` and the index of the key that opened it."""
    try:
        opened = crypto.decrypt(payload, query.signed.msg_signature, query.timestamp, query.nonce)
    except CryptoRejected as exc:
        raise ApiError(403, "bad_signature", str(exc)) from None
    return opened.plaintext, opened.key_index


async def verify_url(request: web.Request) -> web.Response:
    """`GET /wechat`: WeChat's URL verification; answers `echostr` when the signature holds."""
    endpoint = request.app[WECHAT]
    config = endpoint.require_config()
    # URL verification carries no customer message: a stale one is refused.
    query = _check_query(request, config, request.app[SETTINGS].now(), refuse_stale=True)
    echostr = request.query.get("echostr", "")
    if not echostr or len(echostr) > 1024:
        raise ApiError(400, "bad_echostr", "echostr is missing or too long")
    if query.signed.msg_signature:
        # WeCom-style verification: the echostr is encrypted and signed.
        if endpoint.crypto is None:
            raise ApiError(400, "not_encrypted", "msg_signature given but no AES key is configured")
        echostr, _ = _decrypt(endpoint.crypto, echostr, query)
    else:
        _check_plain_signature(config, query, required=True)
    return web.Response(text=echostr, content_type="text/plain")


@dataclass(frozen=True, slots=True)
class _PassiveReply:
    """How to answer one request with text: plaintext, or sealed with the key it came in."""

    endpoint: WeChatEndpoint
    query: _Query
    key_index: int | None
    to_user: str
    account: str

    def render(self, text: str, now: datetime) -> web.Response:
        xml = render_text_reply(
            to_user=self.to_user, from_user=self.account, text=text, create_time=_unix_seconds(now)
        )
        if self.key_index is not None:
            assert self.endpoint.crypto is not None
            xml = self.endpoint.crypto.encrypt(
                xml, _new_nonce(), self.query.timestamp, key_index=self.key_index
            )
        return web.Response(text=xml, content_type="application/xml", charset="utf-8")


async def receive(request: web.Request) -> web.Response:
    """`POST /wechat`: one message or event; answers the passive reply or ``success``."""
    endpoint = request.app[WECHAT]
    config = endpoint.require_config()
    services = request.app[SERVICES]
    received_at = services.now()
    # A signed message far off our clock is logged loudly and taken: its MsgId
    # makes a replay harmless, and a refusal would lose what the customer wrote.
    query = _check_query(request, config, received_at, refuse_stale=False)
    # In safe mode the message signature covers the ciphertext; an Official
    # Account also sends the plain signature, which must then hold as well.
    _check_plain_signature(config, query, required=not query.encrypted)
    body = await read_body(request)
    key_index: int | None = None
    try:
        document = parse_xml(decode_body(body))
        if query.encrypted:
            if endpoint.crypto is None:
                raise ApiError(
                    400, "not_encrypted", "encrypt_type=aes but AFTERSALES_WECHAT_AES_KEY is unset"
                )
            if not query.signed.msg_signature:
                raise ApiError(403, "bad_signature", "msg_signature is missing")
            plaintext, key_index = _decrypt(endpoint.crypto, encrypted_payload(document), query)
            if key_index > 0:
                log.info("wechat message decrypted with the previous EncodingAESKey")
            document = parse_xml(plaintext)
        inbound = to_inbound(document, received_at=received_at)
    except XmlRejected as exc:
        raise ApiError(exc.status, exc.code, exc.reason) from None
    account = str(document.fields.get("ToUserName", ""))
    reply = _PassiveReply(endpoint, query, key_index, to_user=inbound.customer_id, account=account)

    if inbound.kind == "event":
        welcome = await _on_event(services, endpoint.require_config(), inbound)
        return reply.render(welcome, services.now()) if welcome else success()
    receipt = await endpoint.require_intake().accept(inbound)
    if receipt is None:
        return success()  # over the budget: the reply follows by custom/send
    replies = list(receipt.replies)
    if receipt.duplicate:
        replies = list(await replies_to(services.sessionmaker, receipt.message_id))
    # Take the lines for this passive reply: a line custom/send took meanwhile (a
    # first delivery answered late) is left out, so it never reaches the customer
    # twice.  WeChat gives no receipt for a passive reply: "answered", not "sent"
    # (and it does not use the 48 h window's five messages); a redelivery may
    # answer an "answered" line again, since WeChat did not get that answer.
    taken = await services.tickets.claim_lines(
        [line.message_id for line in replies if line.message_id is not None],
        claimable=PASSIVE,
        to=DeliveryStatus.ANSWERED,
    )
    text = "\n\n".join(
        line.text
        for line in replies
        if line.text and (line.message_id is None or line.message_id in taken)
    )
    if not text:
        return success()
    return reply.render(text, services.now())


async def _on_event(services: Services, config: WeChatConfig, inbound: InboundMessage) -> str:
    """Channel events stay at the edge: `unsubscribe` forgets the customer; subscribe,
    SCAN and menu CLICK get the welcome line (when configured); the text to answer."""
    event = inbound.event or ""
    if event == "unsubscribe":
        forgotten = await services.tickets.forget_customer(CHANNEL, inbound.customer_id)
        if forgotten is None:
            log.info("wechat unsubscribe: no personal data stored (unknown customer)")
        else:
            log.info(
                "wechat unsubscribe: customer %d forgotten (%d line(s) erased or masked, "
                "closed: %s)",
                forgotten.customer_id,
                forgotten.messages,
                ", ".join(forgotten.closed) or "none",
            )
        return ""
    event_key = str(inbound.raw.get("EventKey", ""))
    if config.welcome.applies(event, event_key):
        log.info("wechat %s event answered with the welcome line", event)
        return welcome_line(services.policy, CHANNEL)
    return ""


async def _channel_ctx(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[WECHAT]
    config = endpoint.require_config()
    services = app[SERVICES]
    async with aiohttp.ClientSession() as http:
        api = WeChatApi(http, config.api_base, config.retry)
        token = SharedAccessToken(
            api,
            services.sessionmaker,
            app_id=config.app_id,
            secret=config.secret,
            instance_id=services.settings.instance_id,
            now=services.now,
            channel=CHANNEL,
            lead_s=config.token_lead_s,
            box=services.secrets,
        )
        services.senders.register(WeChatSender(api, token, services.sessionmaker, services.now))
        intake = WeChatIntake(services, config.reply_budget_s)
        endpoint.intake = intake
        try:
            async with periodically(config.sweep_s, IntakeSweep(services, intake).run, "intake"):
                yield
        finally:
            await intake.close()
            endpoint.intake = None
            services.senders.unregister(CHANNEL)


def setup(app: web.Application) -> None:
    """Mount `/wechat`; with credentials, register the sender once the core is up.

    Raises `SettingsError` (at app creation, before anything listens) for a
    WeChat variable that is set but unusable.
    """
    environ = app[SETTINGS].environ
    config = WeChatConfig.from_environ(environ)
    crypto = (
        MessageCrypto(config.token, config.aes_keys, config.app_id)
        if config is not None and config.aes_keys
        else None
    )
    endpoint = WeChatEndpoint(config=config, missing=WeChatConfig.missing(environ), crypto=crypto)
    mount_webhook(app, WECHAT, endpoint, PATH, get=verify_url, post=receive, start=_channel_ctx)
