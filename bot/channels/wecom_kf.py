"""The WeCom 微信客服 (kf) channel: the `/wecom/kf` callback and what it starts.

``GET /wecom/kf`` is WeCom's URL verification: the encrypted `echostr`,
signed with `msg_signature` over token, timestamp, nonce and the ciphertext,
is decrypted (WXBizMsgCrypt, receive id = the corp id) and returned.
``POST /wecom/kf`` carries only a notice, encrypted the same way: event
``kf_msg_or_event`` with a sync `Token` and the account (`OpenKfId`) that has
news.  The notice is stored on the account's cursor row (the token and a
bumped `pending_seq`) and committed before anything is answered; then the
messages are read with `sync_msg` (`bot.channels.wecom_kf_sync.KfSyncer`),
within a time budget, and ``success`` is answered.  A sync that is not done
by then goes on in the background; one that fails leaves the notice pending
for the next callback or the periodic sweep, which also settles the lines
whose send had an unknown outcome (`WeComKfSender.reconcile`).  Signatures
are compared in constant time, a stale timestamp is refused (and logged
loudly), and every bad request is a 4xx with one log line, never a 500 and
never a write.

Sending is `bot.channels.wecom_kf_sender`; the settings are
`bot.channels.wecom_kf_config`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.edge import ChannelEndpoint, mount_webhook, periodically, read_body, success
from bot.channels.signed_query import CallbackQuery
from bot.channels.wechat_crypto import CryptoRejected, MessageCrypto
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.wechat_xml import XmlRejected, decode_body, encrypted_payload, parse_xml
from bot.channels.wecom_kf_api import WeComKfApi
from bot.channels.wecom_kf_config import CHANNEL, WeComKfConfig
from bot.channels.wecom_kf_sender import KfClient, WeComKfSender
from bot.channels.wecom_kf_sync import KfSyncer
from bot.context import SERVICES, SETTINGS
from bot.http import ApiError

__all__ = ["PATH", "WECOM_KF", "WeComKfEndpoint", "receive", "setup", "verify_url"]

log = logging.getLogger("bot.channels.wecom_kf")

PATH = "/wecom/kf"
_OPEN_KFID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(slots=True)
class WeComKfEndpoint(ChannelEndpoint[WeComKfConfig]):
    """What the handlers need: the config (None: not configured), crypto, the syncer."""

    label = "WeCom kf"

    crypto: MessageCrypto | None = None
    syncer: KfSyncer | None = None
    sender: WeComKfSender | None = None

    def require(self) -> tuple[WeComKfConfig, MessageCrypto]:
        config = self.require_config()
        assert self.crypto is not None  # built with the config
        return config, self.crypto


WECOM_KF = web.AppKey("wecom_kf", WeComKfEndpoint)


def _check_query(request: web.Request, config: WeComKfConfig, now: datetime) -> CallbackQuery:
    if not request.query.get("msg_signature", ""):
        raise ApiError(403, "bad_signature", "msg_signature is missing or malformed")
    # A notice carries no message (sync_msg reads them), so a stale one is
    # refused: WeCom retries it, and the sweep reads the account anyway.
    return CallbackQuery.parse(
        request.query, now, max_skew_s=config.max_skew_s, refuse_stale=True, channel="wecom kf"
    )


async def verify_url(request: web.Request) -> web.Response:
    """`GET /wecom/kf`: WeCom's URL verification; answers the decrypted `echostr`."""
    config, crypto = request.app[WECOM_KF].require()
    query = _check_query(request, config, request.app[SETTINGS].now())
    echostr = request.query.get("echostr", "")
    if not echostr or len(echostr) > 1024:
        raise ApiError(400, "bad_echostr", "echostr is missing or too long")
    try:
        plain = crypto.decrypt(echostr, query.msg_signature, query.timestamp, query.nonce)
    except CryptoRejected as exc:
        raise ApiError(403, "bad_signature", str(exc)) from None
    return web.Response(text=plain.plaintext, content_type="text/plain")


def _leaf(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "missing_field", f"<{name}> is missing or not a text element")
    return value.strip()


async def receive(request: web.Request) -> web.Response:
    """`POST /wecom/kf`: a ``kf_msg_or_event`` notice; stored, then synced within the budget."""
    endpoint = request.app[WECOM_KF]
    config, crypto = endpoint.require()
    services = request.app[SERVICES]
    query = _check_query(request, config, services.now())
    raw = await read_body(request)
    try:
        envelope = parse_xml(decode_body(raw))
        try:
            opened = crypto.decrypt(
                encrypted_payload(envelope), query.msg_signature, query.timestamp, query.nonce
            )
        except CryptoRejected as exc:
            raise ApiError(403, "bad_signature", str(exc)) from None
        document = parse_xml(opened.plaintext)
    except XmlRejected as exc:
        raise ApiError(exc.status, exc.code, exc.reason) from None
    fields = document.fields
    msg_type = _leaf(fields, "MsgType").lower()
    event = str(fields.get("Event") or "").strip()
    if msg_type != "event" or event != "kf_msg_or_event":
        # Account authorisation changes and the like: nothing for the bot to read.
        log.info("wecom kf callback %s/%s acknowledged, not stored", msg_type, event[:40])
        return success()
    token = _leaf(fields, "Token")
    open_kfid = _leaf(fields, "OpenKfId")
    if len(token) > 256:
        raise ApiError(400, "bad_field", "<Token> is longer than 256 characters")
    if not _OPEN_KFID.fullmatch(open_kfid):
        raise ApiError(400, "bad_field", "<OpenKfId> must be 1–64 letters, digits, _ or -")
    syncer = endpoint.syncer
    if syncer is None:  # pragma: no cover - set by the cleanup context before serving
        raise ApiError(503, "not_ready", "the kf syncer is not running yet")
    await syncer.notify(open_kfid, token)
    task = syncer.kick(open_kfid)
    # Answer within WeCom's 5 s; a longer sync goes on in the background.
    await asyncio.wait({task}, timeout=config.sync_budget_s)
    return success()


async def _channel_ctx(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[WECOM_KF]
    config = endpoint.require_config()
    services = app[SERVICES]
    async with aiohttp.ClientSession() as http:
        api = WeComKfApi(http, config.api_base, config.retry)
        token = SharedAccessToken(
            api,
            services.sessionmaker,
            app_id=config.corp_id,
            secret=config.secret,
            instance_id=services.settings.instance_id,
            now=services.now,
            channel=CHANNEL,
            box=services.secrets,
        )
        client = KfClient(api, token)
        syncer = KfSyncer(
            services,
            client,
            instance_id=f"{services.settings.instance_id}:{secrets.token_hex(2)}",
            lease_s=config.lease_s,
            welcome=config.welcome,
        )
        sender = WeComKfSender(services, client)
        endpoint.syncer, endpoint.sender = syncer, sender
        services.senders.register(sender)

        async def sweep() -> None:
            # Notices left pending, then the lines whose send had an unknown outcome.
            await syncer.sweep()
            await sender.reconcile()

        try:
            async with periodically(config.sweep_s, sweep, "wecom kf sweep"):
                yield
        finally:
            await syncer.close()
            endpoint.syncer = endpoint.sender = None
            services.senders.unregister(CHANNEL)


def setup(app: web.Application) -> None:
    """Mount `/wecom/kf`; with credentials, start the syncer and the sender with the core.

    Raises `SettingsError` (at app creation) for a kf variable that is set but unusable.
    """
    environ = app[SETTINGS].environ
    config = WeComKfConfig.from_environ(environ)
    crypto = MessageCrypto(config.token, config.aes_keys, config.corp_id) if config else None
    endpoint = WeComKfEndpoint(config=config, missing=WeComKfConfig.missing(environ), crypto=crypto)
    mount_webhook(app, WECOM_KF, endpoint, PATH, get=verify_url, post=receive, start=_channel_ctx)
