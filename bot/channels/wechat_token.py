"""The WeChat access token, shared by every worker through the `channel_tokens` table.

WeChat allows a limited number of token fetches a day, and a token fetched by
one process must not be fetched again by another, so the token lives in one
database row per (channel, app id) and is never fetched per request:

- a worker uses the token from its memory while it is fresh, else from the
  row;
- a token is *due* `lead` seconds before it expires; the first worker to see
  it due claims the refresh with one conditional UPDATE (the row is still due
  and nobody holds an unexpired claim), calls `fetch_token` (WeChat's
  `stable_token`, WeCom's `gettoken`), writes the new
  token and releases the claim.  Every other worker keeps using the old token
  while it lasts, or waits briefly for the new one.  A conditional UPDATE is
  atomic on SQLite and PostgreSQL alike, so no row lock is held across the
  HTTP call;
- `stable_token` in normal mode ("平台会提前5分钟更新access_token … expires_in
  >= 300"), and WeCom's `gettoken` (the same token within its validity,
  *unconfirmed*), may hand back the token still held, with little time left; then
  the claim is kept until that token is about to expire, and nobody asks
  again before it would help.  When even that answer is the same token inside
  the safety margin, it is not handed out: the claim is kept until the token
  has expired, the callers wait for it, and one of them asks once more — one
  refresh per expiry, however many requests come in the last seconds;
- while the token is due and another worker (or WeChat's same answer) holds
  the refresh, a worker re-reads the row at most once a second, not per
  request;
- on errcode 40001/42001 the caller `invalidate`s the token it used (only if
  it is still the stored one, so a fresher token is not thrown away) and asks
  once more.

A claim left behind by a crashed worker expires after `claim_s` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.wechat_api import ApiUnavailable, StableToken
from storage.models import ChannelToken
from storage.sealing import PLAIN, SecretBox

log = logging.getLogger("bot.channels.wechat")

# A token this close to its expiry is not handed out: the call using it could
# arrive at WeChat after it expired.
SAFETY_MARGIN = timedelta(seconds=10)
# While a due token is being (or cannot usefully be) refreshed, the row is
# re-read at most this often by a worker.
RECHECK = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class _Held:
    access_token: str
    expires_at: datetime


class TokenSource(Protocol):
    """Where a fresh access token comes from (`WeChatApi`, `WeComKfApi`)."""

    async def fetch_token(self, app_id: str, secret: str) -> StableToken: ...


class SharedAccessToken:
    """The access token of one Official Account, refreshed by one worker at a time."""

    def __init__(
        self,
        api: TokenSource,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        app_id: str,
        secret: str,
        instance_id: str,
        now: Callable[[], datetime],
        channel: str = "wechat",
        lead_s: float = 300,
        claim_s: float = 30,
        wait_s: float = 10,
        poll_s: float = 0.05,
        box: SecretBox = PLAIN,
    ) -> None:
        self._api = api
        # The stored token is sealed (`storage.sealing`); the one held in memory is plain.
        self._box = box
        self._sessionmaker = sessionmaker
        self._app_id = app_id
        self._secret = secret
        self._instance_id = instance_id
        self._now = now
        self._channel = channel
        self._lead = timedelta(seconds=lead_s)
        self._claim_for = timedelta(seconds=claim_s)
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._held: _Held | None = None
        # Until then `_held` is handed out without looking at the row (it is due,
        # but its refresh is another worker's, or WeChat keeps handing it back).
        self._quiet_until: datetime | None = None
        # One refresh attempt per process at a time; the database decides
        # between processes.
        self._lock = asyncio.Lock()

    def _fresh(self, held: _Held | None, now: datetime) -> bool:
        return held is not None and held.expires_at - self._lead > now

    @staticmethod
    def _usable(held: _Held | None, now: datetime) -> bool:
        return (
            held is not None and bool(held.access_token) and held.expires_at - SAFETY_MARGIN > now
        )

    def _quiet(self, now: datetime) -> bool:
        return (
            self._quiet_until is not None
            and now < self._quiet_until
            and self._usable(self._held, now)
        )

    async def get(self) -> str:
        """A valid access token; raises `ApiUnavailable` when none can be had."""
        now = self._now()
        if self._fresh(self._held, now) or self._quiet(now):
            assert self._held is not None
            return self._held.access_token
        async with self._lock:
            return await self._get_locked()

    async def invalidate(self, access_token: str) -> None:
        """WeChat called `access_token` invalid: mark it expired unless it was replaced."""
        if self._held is not None and self._held.access_token == access_token:
            self._held = self._quiet_until = None
        now = self._now()
        async with self._sessionmaker.begin() as session:
            stored = await session.scalar(
                select(ChannelToken.access_token).where(
                    ChannelToken.channel == self._channel, ChannelToken.app_id == self._app_id
                )
            )
            # Sealing is not deterministic: compare the opened token, then expire the row
            # only if it still holds that same stored value (not a newer one).
            if stored is None or self._box.open(stored) != access_token:
                return
            await session.execute(
                update(ChannelToken)
                .where(
                    ChannelToken.channel == self._channel,
                    ChannelToken.app_id == self._app_id,
                    ChannelToken.access_token == stored,
                )
                .values(expires_at=now, refreshing_by=None, refreshing_until=None)
            )
        log.info("wechat access token invalidated by the API; the next use refreshes it")

    async def _get_locked(self) -> str:
        deadline = self._now() + timedelta(seconds=self._wait_s)
        while True:
            now = self._now()
            if self._fresh(self._held, now) or self._quiet(now):
                assert self._held is not None  # refreshed while this caller waited
                return self._held.access_token
            stored = await self._read()
            if self._fresh(stored, now):
                self._held, self._quiet_until = stored, None
                assert stored is not None
                return stored.access_token
            if await self._claim(stored is not None, now):
                fetched = await self._refresh(now)
                if self._usable(fetched, now):
                    return fetched.access_token
                # The same token, about to expire: wait for it to expire (the
                # claim is kept until then), then ask once more.
            elif self._usable(stored, now):
                # Another worker holds the refresh, or WeChat only had the same
                # near-expiry token: use the stored one while it lasts.
                assert stored is not None
                self._held, self._quiet_until = stored, now + RECHECK
                return stored.access_token
            if stored is not None:
                # Waiting out a token's last seconds: the wait counts from its expiry.
                deadline = max(deadline, stored.expires_at + timedelta(seconds=self._wait_s))
            if now >= deadline:
                raise ApiUnavailable(
                    f"no WeChat access token after waiting {self._wait_s:g}s for another "
                    "worker's refresh"
                )
            await asyncio.sleep(self._poll_s)

    async def _read(self) -> _Held | None:
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(ChannelToken.access_token, ChannelToken.expires_at).where(
                        ChannelToken.channel == self._channel,
                        ChannelToken.app_id == self._app_id,
                    )
                )
            ).one_or_none()
        if row is None or row.expires_at is None:
            return None
        return _Held(access_token=self._box.open(row.access_token or ""), expires_at=row.expires_at)

    async def _claim(self, row_exists: bool, now: datetime) -> bool:
        """Take the refresh for this worker; False when another holds it or it is not due."""
        until = now + self._claim_for
        async with self._sessionmaker.begin() as session:
            if not row_exists:
                try:
                    async with session.begin_nested():
                        session.add(
                            ChannelToken(
                                channel=self._channel,
                                app_id=self._app_id,
                                access_token="",
                                expires_at=now,
                                refreshing_by=self._instance_id,
                                refreshing_until=until,
                            )
                        )
                    return True
                except IntegrityError:
                    # Another worker created the row first; compete by UPDATE below.
                    pass
            result = await session.execute(
                update(ChannelToken)
                .where(
                    ChannelToken.channel == self._channel,
                    ChannelToken.app_id == self._app_id,
                    ChannelToken.expires_at <= now + self._lead,
                    or_(
                        ChannelToken.refreshing_until.is_(None),
                        ChannelToken.refreshing_until < now,
                    ),
                )
                .values(refreshing_by=self._instance_id, refreshing_until=until)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _refresh(self, now: datetime) -> _Held:
        try:
            fresh = await self._api.fetch_token(self._app_id, self._secret)
        except BaseException:
            await self._release()
            raise
        expires_at = now + timedelta(seconds=fresh.expires_in)
        held = _Held(access_token=fresh.access_token, expires_at=expires_at)
        # WeChat (and WeCom) may hand back the token it still holds with little
        # time left; then keep the claim until asking again can help: until it is
        # about to expire, or — inside the safety margin already — until it has.
        keep_until: datetime | None = None
        if not self._fresh(held, now):
            keep_until = expires_at - SAFETY_MARGIN if self._usable(held, now) else expires_at
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(ChannelToken)
                .where(
                    and_(
                        ChannelToken.channel == self._channel,
                        ChannelToken.app_id == self._app_id,
                    )
                )
                .values(
                    access_token=self._box.seal(fresh.access_token),
                    expires_at=expires_at,
                    refreshing_by=self._instance_id if keep_until else None,
                    refreshing_until=keep_until,
                )
            )
        self._held = held
        self._quiet_until = keep_until - SAFETY_MARGIN if keep_until else None
        log.info(
            "%s access token refreshed by %s, expires in %ss",
            self._channel,
            self._instance_id,
            fresh.expires_in,
        )
        return held

    async def _release(self) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(ChannelToken)
                .where(
                    ChannelToken.channel == self._channel,
                    ChannelToken.app_id == self._app_id,
                    ChannelToken.refreshing_by == self._instance_id,
                )
                .values(refreshing_by=None, refreshing_until=None)
            )
