"""The WeChat Official Account channel (公众号): the `/wechat` webhook and its sender.

Inbound (`GET` / `POST /wechat`)
    `GET` is WeChat's URL verification: a valid `signature` over token,
    timestamp and nonce gets `echostr` back (an encrypted `echostr` with a
    `msg_signature` is decrypted first, as WeCom does it).  `POST` carries a
    message in plaintext, compatible (plaintext and `<Encrypt>`) or safe mode
    (`encrypt_type=aes`: only `<Encrypt>`; the reply is encrypted too).
    Signatures are compared in constant time; the current and the previous
    EncodingAESKey both decrypt (key rotation); a `timestamp` further than the
    allowed skew from our clock is refused (a replay); bodies over the size
    limit, malformed XML, DTDs, unknown message types get a 4xx and one log
    line with the reason, never a 500 and never a write.

    A message becomes one `InboundMessage` and goes to the core's inbound
    service, which stores it (the unique (channel, external_id) constraint on
    messages makes a redelivery a no-op) and returns the immediate line — the
    greeting — which goes back as the passive reply inside WeChat's 5 s budget.
    A redelivery (WeChat retries three times when it hears nothing in 5 s)
    gets the same reply, or ``success`` when there is none.

Outbound (`WeChatSender`)
    Every later line goes through `message/custom/send` (see `wechat_api`),
    with the access token shared through the database (`wechat_token`).
    WeChat accepts at most 5 such messages within 48 h of the customer's last
    message; a line it refuses for that reason (45015, 45047, or 43004: the
    customer unfollowed) is `blocked_by_channel`, recorded apart from a
    failure.  The 48 h deadline is checked before calling; the count is
    WeChat's to keep (it is per account across all our workers).

Unsubscribe
    WeChat's platform rules (and PIPL) require an account to delete a user's
    personal data once the user stops following it.  On `unsubscribe` the
    core's `TicketService.forget_customer` anonymises the customer: the openid
    becomes an anonymous reference (``anon:<customer id>``) on the customer
    row, on the customer's messages and events; display name, surname, title
    and phone are cleared.  Tickets and message texts stay, under that
    reference, because they are the company's service record (warranty
    periods, QA, satisfaction statistics); what identifies the person does
    not.  Nothing can be sent to that reference afterwards (the sender answers
    `blocked_by_channel`), and a later follow by the same person starts as a
    new customer.  Other events (subscribe, menu clicks, location reports …)
    are acknowledged with ``success`` and not stored: they are not customer
    messages and would only flood the transcript.

Configuration (environment, read from `Settings.environ`)
    `AFTERSALES_WECHAT_TOKEN`, `AFTERSALES_WECHAT_APPID`,
    `AFTERSALES_WECHAT_SECRET` are required for the channel; when any is
    unset `/wechat` is still mounted and answers 503 naming the missing
    variables (WeChat's console and the log then say why, where a 404 would
    look like a wrong URL).  `AFTERSALES_WECHAT_AES_KEY` enables
    compatible/safe mode (unset: plaintext only),
    `AFTERSALES_WECHAT_AES_KEY_PREVIOUS` keeps the old key during a
    rotation.  Optional: `AFTERSALES_WECHAT_API_BASE` (default
    https://api.weixin.qq.com), `AFTERSALES_WECHAT_MAX_SKEW_S` (300),
    `AFTERSALES_WECHAT_API_TIMEOUT_S` (5), `AFTERSALES_WECHAT_API_ATTEMPTS`
    (3), `AFTERSALES_WECHAT_TOKEN_LEAD_S` (refresh this long before expiry,
    300).  A malformed value stops the app at start with a message naming it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.signed_query import checked_timestamp_nonce
from bot.channels.wechat_api import (
    DEFAULT_API_BASE,
    ERRCODES_BLOCKED_BY_CHANNEL,
    ERRCODES_TOKEN_INVALID,
    ApiUnavailable,
    RetryPolicy,
    WeChatApi,
)
from bot.channels.wechat_crypto import (
    AesKeyError,
    CryptoRejected,
    MessageCrypto,
    signature_matches,
    validate_aes_key,
)
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.wechat_xml import (
    XmlRejected,
    decode_body,
    encrypted_payload,
    parse_xml,
    render_text_reply,
    to_inbound,
)
from bot.channels.window import WindowState, sends_since_last_message
from bot.context import SERVICES, SETTINGS, Services
from bot.http import ApiError
from bot.lifecycle import replies_to
from bot.messages import DeliveryResult, InboundMessage, OutboundMessage
from bot.settings import SettingsError

log = logging.getLogger("bot.channels.wechat")

CHANNEL = "wechat"
REQUIRED_ENV = (
    "AFTERSALES_WECHAT_TOKEN",
    "AFTERSALES_WECHAT_APPID",
    "AFTERSALES_WECHAT_SECRET",
)
# WeChat's customer-service rule: messages may follow a customer's message
# for 48 h, at most 5 of them.
SERVICE_WINDOW = timedelta(hours=48)
SERVICE_WINDOW_MESSAGES = 5


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    """The channel's validated settings."""

    token: str
    app_id: str
    secret: str
    # Current EncodingAESKey first, then the previous one; empty: plaintext only.
    aes_keys: tuple[str, ...] = ()
    api_base: str = DEFAULT_API_BASE
    max_skew_s: int = 300
    token_lead_s: int = 300
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WeChatConfig | None:
        """The configuration in `environ`, None when the channel is not configured.

        Raises `SettingsError` naming the variable for a value that is set but
        unusable (a 42-character AES key, a skew that is not a number …).
        """

        def get(name: str) -> str:
            return environ.get(name, "").strip()

        if any(not get(name) for name in REQUIRED_ENV):
            return None
        keys: list[str] = []
        for name in ("AFTERSALES_WECHAT_AES_KEY", "AFTERSALES_WECHAT_AES_KEY_PREVIOUS"):
            value = get(name)
            if not value:
                continue
            if name.endswith("_PREVIOUS") and not keys:
                raise SettingsError(
                    f"{name} is set but AFTERSALES_WECHAT_AES_KEY is not: set the current key too"
                )
            try:
                keys.append(validate_aes_key(value, name=name))
            except AesKeyError as exc:
                raise SettingsError(str(exc)) from None

        def number(name: str, default: float, *, minimum: float) -> float:
            raw = get(name)
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
            if value < minimum:
                raise SettingsError(f"{name}: must be at least {minimum:g}, got {raw!r}")
            return value

        api_base = get("AFTERSALES_WECHAT_API_BASE") or DEFAULT_API_BASE
        if not api_base.startswith(("http://", "https://")):
            raise SettingsError(
                f"AFTERSALES_WECHAT_API_BASE: expected an http(s) URL, got {api_base!r}"
            )
        return cls(
            token=get("AFTERSALES_WECHAT_TOKEN"),
            app_id=get("AFTERSALES_WECHAT_APPID"),
            secret=get("AFTERSALES_WECHAT_SECRET"),
            aes_keys=tuple(keys),
            api_base=api_base,
            max_skew_s=int(number("AFTERSALES_WECHAT_MAX_SKEW_S", 300, minimum=1)),
            token_lead_s=int(number("AFTERSALES_WECHAT_TOKEN_LEAD_S", 300, minimum=0)),
            retry=RetryPolicy(
                timeout_s=number("AFTERSALES_WECHAT_API_TIMEOUT_S", 5.0, minimum=0.1),
                attempts=int(number("AFTERSALES_WECHAT_API_ATTEMPTS", 3, minimum=1)),
            ),
        )

    @staticmethod
    def missing(environ: Mapping[str, str]) -> tuple[str, ...]:
        """The required variables that are unset in `environ`."""
        return tuple(name for name in REQUIRED_ENV if not environ.get(name, "").strip())


def _new_nonce() -> str:
    return str(secrets.randbelow(10**10))


def _unix_seconds(at: datetime) -> int:
    return int(at.timestamp())


# --------------------------------------------------------------------- inbound --


@dataclass(frozen=True, slots=True)
class WeChatEndpoint:
    """What the `/wechat` handlers need, fixed when the app is built."""

    config: WeChatConfig | None
    missing: tuple[str, ...]
    crypto: MessageCrypto | None

    def require_config(self) -> WeChatConfig:
        """The configuration, or a 503 naming the variables still to set."""
        if self.config is None:
            raise ApiError(
                503,
                "wechat_not_configured",
                "the WeChat channel is not configured: set " + ", ".join(self.missing),
            )
        return self.config


WECHAT = web.AppKey("wechat", WeChatEndpoint)


@dataclass(frozen=True, slots=True)
class _Query:
    timestamp: str
    nonce: str
    signature: str
    encrypted: bool
    msg_signature: str


def _check_query(request: web.Request, config: WeChatConfig, now: datetime) -> _Query:
    """The signed query parameters, with the timestamp checked against our clock."""
    query = request.query
    timestamp, nonce = checked_timestamp_nonce(query, now, config.max_skew_s)
    encrypt_type = query.get("encrypt_type", "raw").lower()
    if encrypt_type not in ("raw", "aes"):
        raise ApiError(400, "bad_encrypt_type", f"encrypt_type {encrypt_type[:20]!r} is unknown")
    return _Query(
        timestamp=timestamp,
        nonce=nonce,
        signature=query.get("signature", ""),
        encrypted=encrypt_type == "aes",
        msg_signature=query.get("msg_signature", ""),
    )


def _check_plain_signature(config: WeChatConfig, query: _Query, *, required: bool) -> None:
    if not query.signature:
        if required:
            raise ApiError(403, "bad_signature", "signature is missing")
        return
    if not signature_matches(query.signature, config.token, query.timestamp, query.nonce):
        raise ApiError(403, "bad_signature", "signature does not match")


async def verify_url(request: web.Request) -> web.Response:
    """`GET /wechat`: WeChat's URL verification; answers `echostr` when the signature holds."""
    endpoint = request.app[WECHAT]
    config = endpoint.require_config()
    query = _check_query(request, config, request.app[SETTINGS].now())
    echostr = request.query.get("echostr", "")
    if not echostr or len(echostr) > 1024:
        raise ApiError(400, "bad_echostr", "echostr is missing or too long")
    if query.msg_signature:
        # WeCom-style verification: the echostr is encrypted and signed.
        if endpoint.crypto is None:
            raise ApiError(400, "not_encrypted", "msg_signature given but no AES key is configured")
        try:
            echostr = endpoint.crypto.decrypt(
                echostr, query.msg_signature, query.timestamp, query.nonce
            ).plaintext
        except CryptoRejected as exc:
            raise ApiError(403, "bad_signature", str(exc)) from None
    else:
        _check_plain_signature(config, query, required=True)
    return web.Response(text=echostr, content_type="text/plain")


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"body is over the {limit}-byte limit")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"body is over the {limit}-byte limit") from None


def _rejected(exc: XmlRejected) -> ApiError:
    return ApiError(exc.status, exc.code, exc.reason)


async def receive(request: web.Request) -> web.Response:
    """`POST /wechat`: one message or event; answers the passive reply or ``success``."""
    endpoint = request.app[WECHAT]
    config = endpoint.require_config()
    services = request.app[SERVICES]
    received_at = services.now()
    query = _check_query(request, config, received_at)
    # In safe mode the message signature covers the ciphertext; an Official
    # Account also sends the plain signature, which must then hold as well.
    _check_plain_signature(config, query, required=not query.encrypted)
    body = await _read_body(request)
    key_index: int | None = None
    try:
        document = parse_xml(decode_body(body))
        if query.encrypted:
            if endpoint.crypto is None:
                raise ApiError(
                    400, "not_encrypted", "encrypt_type=aes but AFTERSALES_WECHAT_AES_KEY is unset"
                )
            if not query.msg_signature:
                raise ApiError(403, "bad_signature", "msg_signature is missing")
            try:
                opened = endpoint.crypto.decrypt(
                    encrypted_payload(document), query.msg_signature, query.timestamp, query.nonce
                )
            except CryptoRejected as exc:
                raise ApiError(403, "bad_signature", str(exc)) from None
            key_index = opened.key_index
            if opened.key_index > 0:
                log.info("wechat message decrypted with the previous EncodingAESKey")
            document = parse_xml(opened.plaintext)
        inbound = to_inbound(document, received_at=received_at)
    except XmlRejected as exc:
        raise _rejected(exc) from None
    account = str(document.fields.get("ToUserName", ""))

    if inbound.kind == "event":
        await _on_event(services, inbound)
        return _success()
    if len(inbound.text) > services.settings.max_text_chars:
        raise ApiError(
            400,
            "text_too_long",
            f"message text is longer than {services.settings.max_text_chars} characters",
        )
    receipt = await services.tickets.receive(inbound)
    # A redelivery waits for the answer the first delivery was given.
    replies = list(receipt.earlier_replies if receipt.duplicate else receipt.replies)
    text = "\n\n".join(reply.text for reply in replies if reply.text)
    if not text:
        return _success()
    xml = render_text_reply(
        to_user=inbound.customer_id,
        from_user=account,
        text=text,
        create_time=_unix_seconds(services.now()),
    )
    if key_index is not None:
        assert endpoint.crypto is not None
        xml = endpoint.crypto.encrypt(xml, _new_nonce(), query.timestamp, key_index=key_index)
    # The answer is the delivery: WeChat gives no receipt for a passive reply.
    for reply in replies:
        if reply.message_id is not None:
            await services.tickets.record_delivery(
                reply.message_id, DeliveryResult("sent", "wechat passive reply")
            )
    return web.Response(text=xml, content_type="application/xml", charset="utf-8")


def _success() -> web.Response:
    # WeChat's documented "received, no reply" answer: it neither retries nor
    # tells the customer the account is unavailable.
    return web.Response(text="success", content_type="text/plain")


async def _on_event(services: Services, inbound: InboundMessage) -> None:
    """Channel events stay at the edge; only `unsubscribe` changes anything."""
    if inbound.event == "unsubscribe":
        forgotten = await services.tickets.forget_customer(CHANNEL, inbound.customer_id)
        log.info(
            "wechat unsubscribe: personal data of a customer %s",
            "anonymised" if forgotten else "not stored (unknown customer)",
        )


# ------------------------------------------------------------------- outbound --


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
    async with sessionmaker() as session:
        passive = {reply.message_id for reply in await replies_to(session, last.message_id)}
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
        blocked = self._outside_window(window)
        if blocked is not None:
            log.info("wechat line %s not sent: %s", message.message_id, blocked)
            return DeliveryResult("blocked_by_channel", blocked)
        try:
            return await self._send(openid, message.text)
        except ApiUnavailable as exc:
            return DeliveryResult("failed", str(exc))

    def _outside_window(self, window: WindowState) -> str | None:
        if window.last_customer_at is None:
            return "the customer has not written to the account: no service window is open"
        closes = window.last_customer_at + SERVICE_WINDOW
        if self._now() >= closes:
            return (
                "outside the 48 h customer-service window "
                f"(last customer message {window.last_customer_at.isoformat()})"
            )
        if window.sent_since >= SERVICE_WINDOW_MESSAGES:
            return (
                f"{window.sent_since} lines already sent since the customer's last message "
                f"(WeChat allows {SERVICE_WINDOW_MESSAGES} within 48 h)"
            )
        return None

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


# ---------------------------------------------------------------------- setup --


async def _sender_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[WECHAT].config
    assert config is not None
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
        )
        services.senders.register(WeChatSender(api, token, services.sessionmaker, services.now))
        try:
            yield
        finally:
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
    app[WECHAT] = WeChatEndpoint(
        config=config, missing=WeChatConfig.missing(environ), crypto=crypto
    )
    app.router.add_get("/wechat", verify_url)
    app.router.add_post("/wechat", receive)
    if config is None:
        log.info(
            "WeChat channel not configured (/wechat answers 503): set %s",
            ", ".join(WeChatConfig.missing(environ)),
        )
        return
    app.cleanup_ctx.append(_sender_ctx)
