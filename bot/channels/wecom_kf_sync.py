"""Reading WeCom 微信客服 (kf) accounts with `sync_msg`: `KfSyncer`.

One worker of all processes reads an account at a time: it claims the
cursor row (`storage.channel_models.KfCursor`) with a conditional UPDATE
(free, or its lease ran out), which SQLite and PostgreSQL both do
atomically.  It follows ``has_more`` page by page; after the messages of a
page are stored, the page's ``next_cursor`` is written (only while the lease
is still ours), and only then are the replies sent.  A notice that arrives
while another worker reads bumps `pending_seq`; the reader's release is
conditional on having read up to it, so it reads again instead of leaving
the new messages behind.

A new cursor (the first notice of an account, or a lost row) reads from the
start of what `sync_msg` keeps — three days — to the end, and acts on
nothing sent before the account was connected (`KfCursor.connected_at`, the
first notice, less the callback token's 10 minutes): those conversations
were handled before this bot, so they open no ticket and greet nobody.

Only origin 3 (the customer) is customer input: origin 4 system events are
read for ``msg_send_fail`` (a line WeCom could not deliver is recorded as
such) and ``enter_session`` (its ``welcome_code``, good for one message
within 20 s, sends the welcome line with `send_msg_on_event`); origin 5 (a
servicer writing in the WeCom client) is logged and left out of the ticket.
The msgid is the message's external id, so a message read twice is stored
once (the messages unique constraint).

When WeCom refuses the callback's token (95007 不合法的msgtoken: it is valid
for about 10 minutes) the page is read again without a token, which WeCom
allows under a stricter rate limit; if that fails too the notice stays
pending and nothing is lost — WeCom keeps messages for 3 days and the cursor
only moves past stored ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.channels.wechat_api import ApiUnavailable
from bot.channels.wecom_kf_api import (
    ERRCODE_MSG_TOKEN_INVALID,
    WELCOME_CODE_VALID_S,
    SyncPage,
    SyncRefused,
)
from bot.channels.wecom_kf_config import CHANNEL
from bot.channels.wecom_kf_sender import KfClient, customer_key, line_of_msgid
from bot.channels.welcome import welcome_line
from bot.context import Services
from bot.messages import DeliveryResult, InboundKind, InboundMessage, OutboundMessage
from bot.messages import DeliveryStatus as DeliveryStatusName
from bot.validation import scrub_text, text_problem
from storage.channel_models import KfCursor

log = logging.getLogger("bot.channels.wecom_kf")

# A new cursor acts on nothing sent more than this before the account was
# connected: the callback token's lifetime ("10分钟内有效"), so the message that
# caused the first notice is read, and the three days sync_msg keeps are not.
CONNECTED_GRACE = timedelta(minutes=10)
# Origins of sync_msg messages.
ORIGIN_CUSTOMER = 3
ORIGIN_SYSTEM = 4
ORIGIN_SERVICER = 5
# msg_send_fail fail_type values that are the channel's refusal, not a fault (sync_msg's
# documentation, as silenceper/wechat restates it: 0 未知原因, 1 客服账号已删除, 2 应用已关闭,
# 4 会话已过期超过48小时, 5 会话已关闭, 6 超过5条限制, 7 未绑定视频号, 8 主体未验证,
# 9 未绑定视频号且主体未验证, 10 用户拒收).
_FAIL_TYPES_BLOCKED = frozenset({4, 5, 6, 10})


def _sync_errcode(answer: SyncPage | SyncRefused) -> int:
    return answer.errcode if isinstance(answer, SyncRefused) else 0


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
        welcome: bool = True,
        page_limit: int = 1000,
        max_pages: int = 1000,
    ) -> None:
        self._services = services
        self._client = client
        self._instance_id = instance_id
        self._lease = timedelta(seconds=lease_s)
        self._welcome_enabled = welcome
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
                            connected_at=now,
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
                cutoff = row.connected_at - CONNECTED_GRACE if row.connected_at else None
                round_stored, round_pages = await self._round(
                    open_kfid, row.cursor, row.pending_token, cutoff
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
        self, open_kfid: str, cursor: str | None, token: str | None, cutoff: datetime | None
    ) -> tuple[int, int]:
        """Read to the end from `cursor`; what was sent before `cutoff` is read past."""
        stored = pages = 0
        while pages < self._max_pages:
            page = await self._fetch(open_kfid, cursor, token)
            if page is None:  # the token was refused: read on without one
                token = None
                continue
            pages += 1
            replies: list[OutboundMessage] = []
            earlier = 0
            for message in page.messages:
                if cutoff is not None and self._sent_at(message) < cutoff:
                    earlier += 1
                    continue
                got = await self._handle(open_kfid, message)
                if got is not None:
                    stored += 1
                    replies.extend(got)
            if earlier:
                log.info(
                    "wecom kf %s: %d messages from before the account was connected read past "
                    "(no ticket, no greeting: handled before this bot)",
                    open_kfid,
                    earlier,
                )
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

    def _sent_at(self, message: Mapping[str, Any]) -> datetime:
        """WeCom's send_time of a message or event (our clock when it has none)."""
        send_time = message.get("send_time")
        if isinstance(send_time, int) and not isinstance(send_time, bool) and send_time > 0:
            return datetime.fromtimestamp(send_time, UTC)
        return self._now()

    async def _handle(
        self, open_kfid: str, message: Mapping[str, Any]
    ) -> list[OutboundMessage] | None:
        """Store one customer message (its replies), act on a system event; None: not stored."""
        origin = message.get("origin")
        msgid = message.get("msgid")
        if not isinstance(msgid, str) or not msgid or len(msgid) > 128 or text_problem(msgid):
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
        if not isinstance(user, str) or not user or len(user) > 64 or text_problem(user):
            log.warning(
                "wecom kf %s: customer message %s without external_userid", open_kfid, msgid
            )
            return None
        # Stored whole, however long: a pasted log is what the engineer needs to read.
        kind, text, media_id = _message_text(message)
        if text_problem(text):
            log.warning(
                "wecom kf %s: message %s had control characters; replaced", open_kfid, msgid
            )
            text = scrub_text(text)
        inbound = InboundMessage(
            channel=CHANNEL,
            customer_id=customer_key(open_kfid, user),
            external_id=msgid,
            sent_at=self._sent_at(message),
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
        if kind == "enter_session":
            await self._welcome(message, event)
            return
        if kind != "msg_send_fail":
            log.info("wecom kf event %s", kind)
            return
        line = line_of_msgid(str(event.get("fail_msgid", "")))
        if line is None:
            return  # a line not sent by this bot
        fail_type = event.get("fail_type")
        status: DeliveryStatusName = (
            "blocked_by_channel" if fail_type in _FAIL_TYPES_BLOCKED else "failed"
        )
        await self._services.tickets.record_delivery(
            line,
            DeliveryResult(status, f"WeCom msg_send_fail, fail_type {fail_type}"),
        )

    async def _welcome(self, message: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        """Greet a customer entering the conversation, while the welcome_code is good."""
        code = event.get("welcome_code")
        if not self._welcome_enabled or not isinstance(code, str) or not code:
            return  # WeCom gives a code only when no welcome is configured in its console
        age = (self._now() - self._sent_at(message)).total_seconds()
        if age > WELCOME_CODE_VALID_S:
            log.info(
                "wecom kf: welcome_code %.0fs old (good for %ss): not used",
                age,
                WELCOME_CODE_VALID_S,
            )
            return
        await self._client.welcome(code, welcome_line(self._services.policy, CHANNEL))

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

    async def settle(self, wait_s: float = 30) -> None:
        """Wait up to `wait_s` for the syncs running in the background here."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=wait_s)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
