"""Background downloads of the media customers send on WeChat, WeCom kf and the bridge.

Intake stores the line with a *pending* `Attachment` and returns at once; this
fetcher, run every few seconds by each serve process, claims due attachments
with a conditional UPDATE (the database decides between processes), downloads
them, stores the bytes by content hash, and marks them *stored*.  A failed
download is retried later with a doubling delay, and marked *failed* after the
configured attempts; bytes over the size limit or of a type not allowed are
*refused* (never retried).

Downloads by source:

- WeChat 公众号 ``media_id``: ``GET cgi-bin/media/get`` on the WeChat API;
- WeCom kf ``media_id``: ``GET cgi-bin/media/get`` on the WeCom API (wechatpy
  has no kf client; both go through aiohttp, off nothing: the loop never blocks);
- a bridge link: a plain GET of the URL the bridge sent.

The access tokens are the channels' own, shared through the database
(`bot.channels.wechat_token.SharedAccessToken`, same row as the senders).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message as MimeHeaders

import aiohttp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.wechat_api import ERRCODES_TOKEN_INVALID
from bot.channels.wechat_token import SharedAccessToken
from bot.media.store import MediaRefused, MediaStore
from storage.desk_models import Attachment

log = logging.getLogger("bot.media")

LEASE = timedelta(seconds=120)
BATCH = 20


class FetchFailed(Exception):
    """A download that may work later (network, 5xx, an API error)."""


@dataclass(frozen=True, slots=True)
class Download:
    data: bytes
    content_type: str | None
    filename: str | None


# (source_ref) -> the bytes; raises FetchFailed or MediaRefused.
Downloader = Callable[[str], Awaitable[Download]]


def _filename(disposition: str | None) -> str | None:
    if not disposition:
        return None
    headers = MimeHeaders()
    headers["content-disposition"] = disposition
    name = headers.get_filename()
    return name.strip('"')[:255] if name else None


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refused as soon as it is over `limit` bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise MediaRefused("file_too_large", f"over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise MediaRefused("file_too_large", f"over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


class TencentMedia:
    """``cgi-bin/media/get`` of WeChat or WeCom: the bytes, or a JSON error."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        token: SharedAccessToken,
        limit: int,
        timeout_s: float = 30.0,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = token
        self._limit = limit
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __call__(self, media_id: str) -> Download:
        token = await self._token.get()
        try:
            return await self._get(token, media_id)
        except _TokenInvalid:
            await self._token.invalidate(token)
            return await self._get(await self._token.get(), media_id)

    async def _get(self, token: str, media_id: str) -> Download:
        url = f"{self._base}/cgi-bin/media/get"
        try:
            async with self._http.get(
                url, params={"access_token": token, "media_id": media_id}, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise FetchFailed(f"media/get: HTTP {response.status}")
                kind = response.headers.get("Content-Type", "")
                data = await read_limited(response, self._limit)
                disposition = response.headers.get("Content-Disposition")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchFailed(f"media/get: {type(exc).__name__}: {exc}") from None
        if kind.startswith(("application/json", "text/plain")) and data[:1] == b"{":
            # An error answers in JSON (40007 invalid media_id, 40001 token …).
            try:
                body = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                body = {}
            errcode = body.get("errcode") if isinstance(body, dict) else None
            if isinstance(errcode, int) and errcode != 0:
                if errcode in ERRCODES_TOKEN_INVALID:
                    raise _TokenInvalid()
                raise FetchFailed(f"media/get: errcode {errcode} {body.get('errmsg', '')}")
        return Download(data, kind or None, _filename(disposition))


class _TokenInvalid(Exception):
    pass


class LinkMedia:
    """A bridge link: a plain GET."""

    def __init__(self, http: aiohttp.ClientSession, limit: int, timeout_s: float = 30.0) -> None:
        self._http = http
        self._limit = limit
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __call__(self, url: str) -> Download:
        try:
            async with self._http.get(url, timeout=self._timeout) as response:
                if response.status != 200:
                    raise FetchFailed(f"GET {url[:80]}: HTTP {response.status}")
                data = await read_limited(response, self._limit)
                return Download(
                    data,
                    response.headers.get("Content-Type"),
                    _filename(response.headers.get("Content-Disposition")),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchFailed(f"GET {url[:80]}: {type(exc).__name__}: {exc}") from None


class MediaFetcher:
    """Claims and downloads due attachments; `run_due` is one round."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: MediaStore,
        now: Callable[[], datetime],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._store = store
        self._now = now
        # (channel, source) -> downloader; set by the channels that are configured.
        self.downloaders: dict[tuple[str, str], Downloader] = {}
        self.link: Downloader | None = None

    def downloader(self, channel: str, source: str) -> Downloader | None:
        if source == "url":
            return self.link
        return self.downloaders.get((channel, source))

    async def _claim(self, session: AsyncSession, attachment_id: int, now: datetime) -> bool:
        result = await session.execute(
            update(Attachment)
            .where(
                Attachment.id == attachment_id,
                Attachment.status == "pending",
                or_(Attachment.claimed_until.is_(None), Attachment.claimed_until < now),
            )
            .values(claimed_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    async def remove_erased(self) -> int:
        """Delete the files of erased attachments (a file another row still shows stays)."""
        async with self._sessionmaker() as session, session.begin():
            rows = (
                await session.scalars(
                    select(Attachment)
                    .where(Attachment.status == "erased", Attachment.stored_name.is_not(None))
                    .limit(BATCH)
                )
            ).all()
            removed = 0
            for row in rows:
                name = str(row.stored_name)
                shared = await session.scalar(
                    select(Attachment.id).where(
                        Attachment.stored_name == name, Attachment.status == "stored"
                    )
                )
                if shared is None:
                    removed += int(await asyncio.to_thread(self._store.remove, name))
                row.stored_name = row.sha256 = None
                row.size = None
            return removed

    async def run_due(self, limit: int = BATCH) -> int:
        """Fetch the attachments due now (as many as `limit`); how many were stored.
        Erased attachments' files are deleted first."""
        await self.remove_erased()
        now = self._now()
        async with self._sessionmaker() as session:
            due = list(
                (
                    await session.execute(
                        select(Attachment.id, Attachment.channel, Attachment.source)
                        .where(
                            Attachment.status == "pending",
                            or_(
                                Attachment.next_attempt_at.is_(None),
                                Attachment.next_attempt_at <= now,
                            ),
                            or_(Attachment.claimed_until.is_(None), Attachment.claimed_until < now),
                        )
                        .order_by(Attachment.next_attempt_at, Attachment.id)
                        .limit(limit)
                    )
                ).all()
            )
        stored = 0
        for attachment_id, channel, source in due:
            if self.downloader(channel, source) is None:
                continue  # that channel is not configured in this process
            async with self._sessionmaker() as session, session.begin():
                if not await self._claim(session, attachment_id, now):
                    continue
            stored += await self._fetch_one(attachment_id)
        return stored

    async def _fetch_one(self, attachment_id: int) -> int:
        async with self._sessionmaker() as session:
            row = await session.get(Attachment, attachment_id)
            if row is None or row.source_ref is None:
                return 0
            channel, source, ref = row.channel, row.source, row.source_ref
            filename = row.filename
        download = self.downloader(channel, source)
        assert download is not None
        outcome: Mapping[str, object]
        try:
            got = await download(ref)
            kept = await self._store.put(got.data, got.content_type, got.filename or filename)
            outcome = {
                "status": "stored",
                "sha256": kept.sha256,
                "stored_name": kept.stored_name,
                "size": kept.size,
                "content_type": kept.content_type,
                "filename": filename or got.filename,
                "stored_at": self._now(),
                "last_error": None,
            }
        except MediaRefused as exc:
            log.info("attachment %d refused: %s", attachment_id, exc.message)
            outcome = {"status": "refused", "last_error": exc.message}
        except FetchFailed as exc:
            log.warning("attachment %d: download failed: %s", attachment_id, exc)
            outcome = {"status": "pending", "last_error": str(exc)[:1000]}
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(Attachment, attachment_id)
            if row is None:
                return 0
            row.attempts = (row.attempts or 0) + 1
            row.claimed_until = None
            for key, value in outcome.items():
                setattr(row, key, value)
            if row.status == "pending":
                if row.attempts >= self._store.config.attempts:
                    row.status = "failed"
                else:
                    delay = self._store.config.retry_s * 2 ** (row.attempts - 1)
                    row.next_attempt_at = self._now() + timedelta(seconds=delay)
            return 1 if row.status == "stored" else 0
