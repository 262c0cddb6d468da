"""The WeCom 微信客服 (kf) channel: the `/wecom/kf` callback, `sync_msg`, and its sender.

Inbound
    ``GET /wecom/kf`` is WeCom's URL verification: the encrypted `echostr`,
    signed with `msg_signature` over token, timestamp, nonce and the
    ciphertext, is decrypted (WXBizMsgCrypt, receive id = the corp id) and
    returned.  ``POST /wecom/kf`` carries only a notice, encrypted the same
    way: event ``kf_msg_or_event`` with a sync `Token` and the account
    (`OpenKfId`) that has news.  The notice is stored on the account's cursor
    row (`storage.channel_models.KfCursor`: the token and a bumped
    `pending_seq`) and committed before anything is answered; then the
    messages are read with `sync_msg` (`KfSyncer`), within a time budget, and
    ``success`` is answered.  A sync that is not done by then goes on in the
    background; one that fails leaves the notice pending for the next
    callback or the periodic sweep.  Signatures are compared in constant
    time, a stale timestamp is refused, and every bad request is a 4xx with
    one log line, never a 500 and never a write.

Reading (`KfSyncer`)
    One worker of all processes reads an account at a time: it claims the
    cursor row with a conditional UPDATE (free, or its lease ran out), which
    SQLite and PostgreSQL both do atomically.  It follows ``has_more`` page by
    page; after the messages of a page are stored, the page's ``next_cursor``
    is written (only while the lease is still ours), and only then are the
    replies sent.  A notice that arrives while another worker reads bumps
    `pending_seq`; the reader's release is conditional on having read up to
    it, so it reads again instead of leaving the new messages behind.  Only
    origin 3 (the customer) is customer input: origin 4 system events are
    read for ``msg_send_fail`` (a line WeCom could not deliver is recorded
    as such), origin 5 (a servicer writing in the WeCom client) is logged
    and left out of the ticket.  The msgid is the message's external id, so
    a message read twice is stored once (the messages unique constraint).
    When WeCom refuses the callback's token (95007 不合法的msgtoken: it is
    valid for about 10 minutes) the page is read again without a token,
    which WeCom allows under a stricter rate limit; if that fails too the
    notice stays pending and nothing is lost — WeCom keeps messages for 3
    days and the cursor only moves past stored ones.

Session state and sending (`WeComKfSender`)
    `send_msg` works only while the session is 0 (未处理) or 1 (由智能助手接待),
    within 48 h of the customer's last message and for at most 5 lines.  When
    a customer's first message opens a ticket the session is moved 0 → 1
    with `service_state/trans`: the conversation is then handled through the
    API — by this bot, speaking for the assigned engineer from the console —
    and leaves WeCom's unassigned pool.  It is deliberately never moved to 3
    (由人工接待): there WeCom refuses `send_msg` (95018), and the engineer's
    replies would bypass the pre-send check.  A send refused with 95018
    looks the state up: a new session (0, after the old one ended) is taken
    over and the line sent again; 2, 3 or 4 (someone took it in the WeCom
    client, or it ended) is `blocked_by_channel` naming the state.  The 48 h
    / 5-line rule is checked before calling and WeCom's own refusals (95001,
    95002, 95013) are `blocked_by_channel` too, apart from failures.

Configuration (environment, read from `Settings.environ`)
    Required: `AFTERSALES_WECOM_CORP_ID`, `AFTERSALES_WECOM_KF_SECRET` (the
    微信客服 secret, for `gettoken`), `AFTERSALES_WECOM_KF_TOKEN` and
    `AFTERSALES_WECOM_KF_AES_KEY` (the callback's Token and EncodingAESKey).
    Unset: `/wecom/kf` answers 503 naming them.  Optional:
    `AFTERSALES_WECOM_KF_AES_KEY_PREVIOUS` (rotation),
    `AFTERSALES_WECOM_API_BASE` (https://qyapi.weixin.qq.com),
    `AFTERSALES_WECOM_API_TIMEOUT_S` (5), `AFTERSALES_WECOM_API_ATTEMPTS` (3),
    `AFTERSALES_WECOM_KF_MAX_SKEW_S` (300), `AFTERSALES_WECOM_KF_SYNC_BUDGET_S`
    (3: how long a callback waits for its sync), `AFTERSALES_WECOM_KF_LEASE_S`
    (60), `AFTERSALES_WECOM_KF_SWEEP_S` (60; 0: no periodic sweep).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import aiohttp
from aiohttp import web
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.channels.signed_query import checked_timestamp_nonce
from bot.channels.wechat_api import ApiAnswer, ApiUnavailable, RetryPolicy
from bot.channels.wechat_crypto import (
    AesKeyError,
    CryptoRejected,
    MessageCrypto,
    validate_aes_key,
)
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.wechat_xml import XmlRejected, decode_body, encrypted_payload, parse_xml
from bot.channels.wecom_kf_api import (
    DEFAULT_API_BASE,
    ERRCODE_MSG_TOKEN_INVALID,
    ERRCODE_SESSION_STATE,
    ERRCODES_BLOCKED_BY_CHANNEL,
    ERRCODES_TOKEN_INVALID,
    STATE_API,
    STATE_NAMES,
    STATE_NEW,
    SyncPage,
    SyncRefused,
    WeComKfApi,
)
from bot.channels.window import WindowState, sends_since_last_message
from bot.context import SERVICES, SETTINGS, Services
from bot.http import ApiError
from bot.messages import DeliveryResult, InboundKind, InboundMessage, OutboundMessage
from bot.messages import DeliveryStatus as DeliveryStatusName
from bot.settings import SettingsError
from storage.channel_models import KfCursor

log = logging.getLogger("bot.channels.wecom_kf")

CHANNEL = "wecom"
PATH = "/wecom/kf"
REQUIRED_ENV = (
    "AFTERSALES_WECOM_CORP_ID",
    "AFTERSALES_WECOM_KF_SECRET",
    "AFTERSALES_WECOM_KF_TOKEN",
    "AFTERSALES_WECOM_KF_AES_KEY",
)
# WeCom's rule for send_msg: up to 5 lines within 48 h of the customer's message.
SERVICE_WINDOW = timedelta(hours=48)
SERVICE_WINDOW_MESSAGES = 5
# Origins of sync_msg messages.
ORIGIN_CUSTOMER = 3
ORIGIN_SYSTEM = 4
ORIGIN_SERVICER = 5
# Our send_msg msgid: a prefix and the stored line's id, so that a later
# msg_send_fail event names the line it is about.
_MSGID_PREFIX = "as"
_MSGID = re.compile(r"as([0-9]{1,18})")
_OPEN_KFID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# msg_send_fail fail_type values that are the channel's refusal, not a fault:
# 4 session over 48 h, 5 session closed, 6 over the 5-line limit, 10 the customer refuses.
_FAIL_TYPES_BLOCKED = frozenset({4, 5, 6, 10})
# A customer key of an anonymised customer (`Customer.anonymise`).
_ANONYMISED_PREFIX = "anon:"

T = TypeVar("T")


def customer_key(open_kfid: str, external_userid: str) -> str:
    """The customer's identity on this channel: sending needs both ids."""
    return f"{open_kfid}:{external_userid}"


def split_customer_key(key: str) -> tuple[str, str] | None:
    """(open_kfid, external_userid) of a customer key, or None when it is not one."""
    open_kfid, sep, user = key.partition(":")
    if not sep or not user or key.startswith(_ANONYMISED_PREFIX):
        return None
    return open_kfid, user


# ---------------------------------------------------------------- configuration --


def _env_number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name}: must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class WeComKfConfig:
    """The kf channel's settings, validated."""

    corp_id: str
    secret: str
    token: str
    aes_keys: tuple[str, ...]
    api_base: str = DEFAULT_API_BASE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_skew_s: float = 300
    sync_budget_s: float = 3
    lease_s: float = 60
    sweep_s: float = 60

    @staticmethod
    def missing(environ: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(name for name in REQUIRED_ENV if not environ.get(name, "").strip())

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WeComKfConfig | None:
        """The config, None when a required variable is unset; `SettingsError` when one is bad."""
        if cls.missing(environ):
            return None
        keys = [environ["AFTERSALES_WECOM_KF_AES_KEY"].strip()]
        previous = environ.get("AFTERSALES_WECOM_KF_AES_KEY_PREVIOUS", "").strip()
        if previous:
            keys.append(previous)
        names = ("AFTERSALES_WECOM_KF_AES_KEY", "AFTERSALES_WECOM_KF_AES_KEY_PREVIOUS")
        try:
            aes_keys = tuple(
                validate_aes_key(key, name=name) for key, name in zip(keys, names, strict=False)
            )
        except AesKeyError as exc:
            raise SettingsError(str(exc)) from None
        attempts = _env_number(environ, "AFTERSALES_WECOM_API_ATTEMPTS", 3)
        if attempts < 1 or attempts != int(attempts):
            raise SettingsError(
                f"AFTERSALES_WECOM_API_ATTEMPTS: a whole number ≥ 1, got {attempts}"
            )
        timeout = _env_number(environ, "AFTERSALES_WECOM_API_TIMEOUT_S", 5)
        if timeout <= 0:
            raise SettingsError("AFTERSALES_WECOM_API_TIMEOUT_S: must be positive")
        lease = _env_number(environ, "AFTERSALES_WECOM_KF_LEASE_S", 60)
        if lease < 5:
            raise SettingsError(f"AFTERSALES_WECOM_KF_LEASE_S: at least 5 seconds, got {lease}")
        return cls(
            corp_id=environ["AFTERSALES_WECOM_CORP_ID"].strip(),
            secret=environ["AFTERSALES_WECOM_KF_SECRET"].strip(),
            token=environ["AFTERSALES_WECOM_KF_TOKEN"].strip(),
            aes_keys=aes_keys,
            api_base=environ.get("AFTERSALES_WECOM_API_BASE", "").strip() or DEFAULT_API_BASE,
            retry=RetryPolicy(timeout_s=timeout, attempts=int(attempts)),
            max_skew_s=_env_number(environ, "AFTERSALES_WECOM_KF_MAX_SKEW_S", 300),
            sync_budget_s=_env_number(environ, "AFTERSALES_WECOM_KF_SYNC_BUDGET_S", 3),
            lease_s=lease,
            sweep_s=_env_number(environ, "AFTERSALES_WECOM_KF_SWEEP_S", 60),
        )


# ------------------------------------------------------------------ API access --


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


def _sync_errcode(answer: SyncPage | SyncRefused) -> int:
    return answer.errcode if isinstance(answer, SyncRefused) else 0


# ------------------------------------------------------------------- reading --


class KfSyncFailed(Exception):
    """A sync round stopped; the notice stays pending for the next try."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one `KfSyncer.sync` call did."""

    claimed: bool
    stored: int = 0
    pages: int = 0
    error: str | None = None


def _message_text(message: Mapping[str, Any]) -> tuple[InboundKind, str, str | None]:
    """Kind, transcript text and media id of one kf message (origin 3)."""
    msgtype = str(message.get("msgtype", ""))
    body = message.get(msgtype)
    part: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    media = part.get("media_id")
    media_id = str(media) if isinstance(media, str) and media else None
    if msgtype == "text":
        return "text", str(part.get("content", "")).strip(), None
    if msgtype in ("image", "voice", "video", "file"):
        label = {"image": "[图片]", "voice": "[语音]", "video": "[视频]", "file": "[文件]"}
        return cast(InboundKind, msgtype), label[msgtype], media_id
    if msgtype == "location":
        name = str(part.get("name", "") or part.get("address", "")).strip()
        where = f"({part.get('latitude', '')}, {part.get('longitude', '')})"
        return "location", f"[位置] {name} {where}".strip(), None
    if msgtype == "link":
        return "link", f"[链接] {part.get('title', '')} {part.get('url', '')}".strip(), None
    if msgtype == "miniprogram":
        return "link", f"[小程序] {part.get('title', '')}".strip(), None
    if msgtype == "business_card":
        return "text", "[名片]", None
    # Types added after this was written (视频号, 商品 …): kept, readable, never dropped.
    return "text", f"[{msgtype or '未知消息'}]", None


class KfSyncer:
    """Reads kf accounts with `sync_msg`, one worker per account across processes."""

    def __init__(
        self,
        services: Services,
        client: KfClient,
        *,
        instance_id: str,
        lease_s: float = 60,
        page_limit: int = 1000,
        max_pages: int = 1000,
    ) -> None:
        self._services = services
        self._client = client
        self._instance_id = instance_id
        self._lease = timedelta(seconds=lease_s)
        self._page_limit = page_limit
        self._max_pages = max_pages
        self._tasks: set[asyncio.Task[SyncResult]] = set()

    def _now(self) -> datetime:
        return self._services.now()

    # -- notices and leases ------------------------------------------------

    async def notify(self, open_kfid: str, token: str) -> None:
        """Record a callback's notice (committed before the callback is answered)."""
        now = self._now()
        bump = (
            update(KfCursor)
            .where(KfCursor.open_kfid == open_kfid)
            .values(
                pending_token=token,
                pending_seq=KfCursor.pending_seq + 1,
                notified_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        for _attempt in range(3):
            async with self._services.tickets.transaction() as session:
                if getattr(await session.execute(bump), "rowcount", 0) == 1:
                    return
            try:
                async with self._services.tickets.transaction() as session:
                    session.add(
                        KfCursor(
                            open_kfid=open_kfid,
                            pending_token=token,
                            pending_seq=1,
                            synced_seq=0,
                            notified_at=now,
                        )
                    )
                return
            except IntegrityError:
                continue  # created by a concurrent notice: bump it
        raise RuntimeError(f"could not record the kf notice for {open_kfid}")

    async def _claim(self, open_kfid: str) -> bool:
        now = self._now()
        async with self._services.tickets.transaction() as session:
            result = await session.execute(
                update(KfCursor)
                .where(
                    KfCursor.open_kfid == open_kfid,
                    or_(KfCursor.lease_until.is_(None), KfCursor.lease_until < now),
                )
                .values(leased_by=self._instance_id, lease_until=now + self._lease)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _read(self, open_kfid: str) -> KfCursor:
        async with self._services.sessionmaker() as session:
            row = await session.get(KfCursor, open_kfid)
            if row is None:
                raise KfSyncFailed(f"no cursor row for {open_kfid}")
            return row

    async def _advance(self, open_kfid: str, cursor: str | None) -> None:
        """Store the cursor after a stored page and extend the lease, if still ours."""
        now = self._now()
        values: dict[str, Any] = {"lease_until": now + self._lease}
        if cursor:
            values["cursor"] = cursor
        async with self._services.tickets.transaction() as session:
            result = await session.execute(
                update(KfCursor)
                .where(KfCursor.open_kfid == open_kfid, KfCursor.leased_by == self._instance_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise KfSyncFailed(f"lease on {open_kfid} lost (another worker took it over)")

    async def _finish(self, open_kfid: str, seen: int) -> bool:
        """Release the lease if no notice came after `seen`; False: read again."""
        now = self._now()
        async with self._services.tickets.transaction() as session:
            result = await session.execute(
                update(KfCursor)
                .where(
                    KfCursor.open_kfid == open_kfid,
                    KfCursor.leased_by == self._instance_id,
                    KfCursor.pending_seq == seen,
                )
                .values(synced_seq=seen, synced_at=now, leased_by=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                return True
            await session.execute(
                update(KfCursor)
                .where(KfCursor.open_kfid == open_kfid, KfCursor.leased_by == self._instance_id)
                .values(synced_seq=seen, synced_at=now)
                .execution_options(synchronize_session=False)
            )
        return False

    async def _release(self, open_kfid: str) -> None:
        async with self._services.tickets.transaction() as session:
            await session.execute(
                update(KfCursor)
                .where(KfCursor.open_kfid == open_kfid, KfCursor.leased_by == self._instance_id)
                .values(leased_by=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )

    # -- syncing -----------------------------------------------------------

    async def sync(self, open_kfid: str) -> SyncResult:
        """Read the account's new messages if no other worker is; see the module docstring."""
        if not await self._claim(open_kfid):
            log.info("wecom kf %s: another worker is reading; it will read this notice", open_kfid)
            return SyncResult(claimed=False)
        stored = pages = 0
        try:
            for _round in range(100):
                row = await self._read(open_kfid)
                if row.leased_by != self._instance_id:
                    raise KfSyncFailed(f"lease on {open_kfid} lost")
                seen = row.pending_seq
                round_stored, round_pages = await self._round(
                    open_kfid, row.cursor, row.pending_token
                )
                stored += round_stored
                pages += round_pages
                if await self._finish(open_kfid, seen):
                    return SyncResult(claimed=True, stored=stored, pages=pages)
            raise KfSyncFailed(f"{open_kfid}: notices keep arriving; leaving the rest pending")
        except (KfSyncFailed, ApiUnavailable) as exc:
            log.warning("wecom kf %s: sync stopped, notice left pending: %s", open_kfid, exc)
            await self._release(open_kfid)
            return SyncResult(claimed=True, stored=stored, pages=pages, error=str(exc))
        except BaseException:
            await self._release(open_kfid)
            raise

    async def _round(
        self, open_kfid: str, cursor: str | None, token: str | None
    ) -> tuple[int, int]:
        stored = pages = 0
        while pages < self._max_pages:
            page = await self._fetch(open_kfid, cursor, token)
            if page is None:  # the token was refused: read on without one
                token = None
                continue
            pages += 1
            replies: list[OutboundMessage] = []
            for message in page.messages:
                got = await self._handle(open_kfid, message)
                if got is not None:
                    stored += 1
                    replies.extend(got)
            # Stored first, then the cursor past them, then the answers.
            await self._advance(open_kfid, page.next_cursor)
            cursor = page.next_cursor or cursor
            for reply in replies:
                await self._services.tickets.deliver(reply)
            if not page.has_more:
                return stored, pages
        raise KfSyncFailed(f"{open_kfid}: more than {self._max_pages} pages in one round")

    async def _fetch(
        self, open_kfid: str, cursor: str | None, token: str | None
    ) -> SyncPage | None:
        answer = await self._client.call(
            lambda access: self._client.api.sync_msg(
                access, open_kfid, cursor=cursor, token=token, limit=self._page_limit
            ),
            _sync_errcode,
        )
        if isinstance(answer, SyncPage):
            return answer
        if answer.errcode == ERRCODE_MSG_TOKEN_INVALID and token:
            log.info(
                "wecom kf %s: callback token refused (95007, expired?); reading without it",
                open_kfid,
            )
            return None
        raise KfSyncFailed(f"sync_msg refused: errcode {answer.errcode} {answer.errmsg}")

    async def _handle(
        self, open_kfid: str, message: Mapping[str, Any]
    ) -> list[OutboundMessage] | None:
        """Store one customer message (its replies), act on a system event; None: not stored."""
        origin = message.get("origin")
        msgid = message.get("msgid")
        if not isinstance(msgid, str) or not msgid or len(msgid) > 128:
            log.warning("wecom kf %s: message without a usable msgid skipped", open_kfid)
            return None
        if origin == ORIGIN_SYSTEM:
            await self._system_event(message)
            return None
        if origin == ORIGIN_SERVICER:
            log.info(
                "wecom kf %s: servicer message %s written in the WeCom client; not customer input",
                open_kfid,
                msgid,
            )
            return None
        if origin != ORIGIN_CUSTOMER or message.get("msgtype") == "event":
            log.info("wecom kf %s: message %s of origin %r skipped", open_kfid, msgid, origin)
            return None
        user = message.get("external_userid")
        if not isinstance(user, str) or not user or len(user) > 64:
            log.warning(
                "wecom kf %s: customer message %s without external_userid", open_kfid, msgid
            )
            return None
        kind, text, media_id = _message_text(message)
        limit = self._services.settings.max_text_chars
        if len(text) > limit:
            log.info("wecom kf message %s: text cut to %d characters", msgid, limit)
            text = text[:limit]
        send_time = message.get("send_time")
        sent_at = (
            datetime.fromtimestamp(send_time, UTC)
            if isinstance(send_time, int) and send_time > 0
            else self._now()
        )
        inbound = InboundMessage(
            channel=CHANNEL,
            customer_id=customer_key(open_kfid, user),
            external_id=msgid,
            sent_at=sent_at,
            kind=kind,
            text=text,
            media_url=media_id,
            raw={"open_kfid": open_kfid, "msgtype": message.get("msgtype"), "origin": origin},
        )
        receipt = await self._services.tickets.receive(inbound)
        if receipt.duplicate:
            return []
        if receipt.opened:
            try:
                await self._client.take_over(open_kfid, user)
            except ApiUnavailable as exc:
                # Sending still works in state 0; the next send retries the move.
                log.warning("wecom kf %s: could not take the session over: %s", open_kfid, exc)
        return list(receipt.replies)

    async def _system_event(self, message: Mapping[str, Any]) -> None:
        event = message.get("event")
        if not isinstance(event, Mapping):
            return
        kind = event.get("event_type")
        if kind != "msg_send_fail":
            log.info("wecom kf event %s", kind)
            return
        match = _MSGID.fullmatch(str(event.get("fail_msgid", "")))
        if match is None:
            return  # a line not sent by this bot
        fail_type = event.get("fail_type")
        status: DeliveryStatusName = (
            "blocked_by_channel" if fail_type in _FAIL_TYPES_BLOCKED else "failed"
        )
        await self._services.tickets.record_delivery(
            int(match.group(1)),
            DeliveryResult(status, f"WeCom msg_send_fail, fail_type {fail_type}"),
        )

    # -- scheduling ----------------------------------------------------------

    def kick(self, open_kfid: str) -> asyncio.Task[SyncResult]:
        """Start a sync in the background (kept until done; cancelled at shutdown)."""
        task = asyncio.get_running_loop().create_task(self.sync(open_kfid))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[SyncResult]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("wecom kf sync crashed", exc_info=task.exception())

    async def sweep(self) -> list[SyncResult]:
        """Sync every account with a notice still pending and no live lease."""
        now = self._now()
        async with self._services.sessionmaker() as session:
            pending = (
                await session.execute(
                    select(KfCursor.open_kfid).where(
                        KfCursor.pending_seq > KfCursor.synced_seq,
                        or_(KfCursor.lease_until.is_(None), KfCursor.lease_until < now),
                    )
                )
            ).scalars()
            accounts = list(pending)
        return [await self.sync(open_kfid) for open_kfid in accounts]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# ------------------------------------------------------------------- sending --


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
        blocked = await self._outside_window(message.customer_id, message.message_id)
        if blocked is not None:
            log.info("wecom kf line %s not sent: %s", message.message_id, blocked)
            return DeliveryResult("blocked_by_channel", blocked)
        open_kfid, user = parts
        try:
            return await self._send(open_kfid, user, message.text, message.message_id)
        except ApiUnavailable as exc:
            return DeliveryResult("failed", str(exc))

    async def _outside_window(self, key: str, message_id: int) -> str | None:
        window = await kf_window(self._services, key, excluding=message_id)
        if window.last_customer_at is None:
            return "the customer has not written to the kf account: no window is open"
        if self._services.now() >= window.last_customer_at + SERVICE_WINDOW:
            return (
                "outside the 48 h after the customer's last message "
                f"({window.last_customer_at.isoformat()})"
            )
        if window.sent_since >= SERVICE_WINDOW_MESSAGES:
            return (
                f"{window.sent_since} lines already sent since the customer's last message "
                f"(WeCom allows {SERVICE_WINDOW_MESSAGES} within 48 h)"
            )
        return None

    async def _send(self, open_kfid: str, user: str, text: str, message_id: int) -> DeliveryResult:
        msgid = f"{_MSGID_PREFIX}{message_id}"

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


# ------------------------------------------------------------------- webhook --


@dataclass(slots=True)
class WeComKfEndpoint:
    """What the handlers need: the config (None: not configured), crypto, the syncer."""

    config: WeComKfConfig | None
    missing: tuple[str, ...]
    crypto: MessageCrypto | None
    syncer: KfSyncer | None = None

    def require(self) -> tuple[WeComKfConfig, MessageCrypto]:
        if self.config is None or self.crypto is None:
            raise ApiError(
                503,
                "channel_not_configured",
                f"WeCom kf channel is not configured: set {', '.join(self.missing)}",
            )
        return self.config, self.crypto


WECOM_KF = web.AppKey("wecom_kf", WeComKfEndpoint)


@dataclass(frozen=True, slots=True)
class _Query:
    msg_signature: str
    timestamp: str
    nonce: str


def _check_query(request: web.Request, config: WeComKfConfig, now: datetime) -> _Query:
    query = request.query
    signature = query.get("msg_signature", "")
    if not signature or len(signature) > 64:
        raise ApiError(403, "bad_signature", "msg_signature is missing or malformed")
    timestamp, nonce = checked_timestamp_nonce(query, now, config.max_skew_s)
    return _Query(msg_signature=signature, timestamp=timestamp, nonce=nonce)


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
    limit = services.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"body is over the {limit}-byte limit")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"body is over the {limit}-byte limit") from None
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
        return _success()
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
    return _success()


def _success() -> web.Response:
    return web.Response(text="success", content_type="text/plain")


# ---------------------------------------------------------------------- setup --


async def _sweeper(syncer: KfSyncer, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await syncer.sweep()
        except Exception:  # the sweep must outlive one bad round
            log.exception("wecom kf sweep failed")


async def _channel_ctx(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[WECOM_KF]
    config = endpoint.config
    assert config is not None
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
        )
        client = KfClient(api, token)
        syncer = KfSyncer(
            services,
            client,
            instance_id=f"{services.settings.instance_id}:{secrets.token_hex(2)}",
            lease_s=config.lease_s,
        )
        endpoint.syncer = syncer
        services.senders.register(WeComKfSender(services, client))
        sweeper = (
            asyncio.get_running_loop().create_task(_sweeper(syncer, config.sweep_s))
            if config.sweep_s > 0
            else None
        )
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await syncer.close()
            endpoint.syncer = None
            services.senders.unregister(CHANNEL)


def setup(app: web.Application) -> None:
    """Mount `/wecom/kf`; with credentials, start the syncer and the sender with the core.

    Raises `SettingsError` (at app creation) for a kf variable that is set but unusable.
    """
    environ = app[SETTINGS].environ
    config = WeComKfConfig.from_environ(environ)
    crypto = MessageCrypto(config.token, config.aes_keys, config.corp_id) if config else None
    app[WECOM_KF] = WeComKfEndpoint(
        config=config, missing=WeComKfConfig.missing(environ), crypto=crypto
    )
    app.router.add_get(PATH, verify_url)
    app.router.add_post(PATH, receive)
    if config is None:
        log.info(
            "WeCom kf channel not configured (%s answers 503): set %s",
            PATH,
            ", ".join(WeComKfConfig.missing(environ)),
        )
        return
    app.cleanup_ctx.append(_channel_ctx)


setup_wecom_kf = setup
