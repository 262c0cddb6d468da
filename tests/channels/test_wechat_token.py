"""The shared access token: one `stable_token` call for all workers, refresh ahead, invalidate.

Each "worker" has its own engine on the same database, as separate
`aftersales serve` processes would; runs on SQLite and, where
AFTERSALES_TEST_PG_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from pytest_aiohttp.plugin import AiohttpServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.testing import FakeWeChatApi, Scripted
from bot.channels.wechat_api import ApiUnavailable, RetryPolicy, WeChatApi
from bot.channels.wechat_token import SharedAccessToken
from storage.db import make_async_engine, make_async_sessionmaker
from storage.models import ChannelToken
from storage.sealing import PLAIN, SecretBox
from tests.support import FakeClock

START = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


@dataclass
class Workers:
    fake: FakeWeChatApi
    clock: FakeClock
    url: str
    base: str
    http: aiohttp.ClientSession
    engines: list[AsyncEngine] = field(default_factory=list)

    def worker(
        self, name: str, *, lead_s: float = 300, poll_s: float = 0.01, box: SecretBox = PLAIN
    ) -> SharedAccessToken:
        engine = make_async_engine(self.url)
        self.engines.append(engine)
        api = WeChatApi(self.http, self.base, RetryPolicy(timeout_s=2, attempts=2, backoff_s=0))
        return SharedAccessToken(
            api,
            make_async_sessionmaker(engine),
            app_id="wxapp",
            secret="s3cret",
            instance_id=name,
            now=self.clock,
            lead_s=lead_s,
            poll_s=poll_s,
            wait_s=5,
            box=box,
        )

    async def row(self) -> ChannelToken:
        async with make_async_sessionmaker(self.engines[0])() as session:
            return (await session.execute(select(ChannelToken))).scalar_one()


@pytest.fixture
async def workers(db_url: str, aiohttp_server: AiohttpServer) -> AsyncIterator[Workers]:
    fake = FakeWeChatApi()
    server = await aiohttp_server(fake.app())
    async with aiohttp.ClientSession() as http:
        w = Workers(fake, FakeClock(START), db_url, str(server.make_url("")).rstrip("/"), http)
        yield w
        for engine in w.engines:
            await engine.dispose()


async def test_concurrent_workers_make_one_stable_token_call(workers: Workers) -> None:
    workers.fake.slow_tokens(0.2)  # the refresh is in flight while the others ask
    tokens = [workers.worker(f"w{i}") for i in range(3)]
    got = await asyncio.gather(*(t.get() for t in tokens for _ in range(3)))
    assert set(got) == {"TOKEN-1"}
    assert len(workers.fake.token_calls) == 1
    row = await workers.row()
    assert row.access_token == "TOKEN-1"
    assert row.expires_at == START + timedelta(seconds=7200)
    assert (row.refreshing_by, row.refreshing_until) == (None, None)


async def test_token_is_reused_not_fetched_per_request(workers: Workers) -> None:
    a, b = workers.worker("a"), workers.worker("b")
    assert await a.get() == "TOKEN-1"
    workers.clock.advance(hours=1)
    for _ in range(5):
        assert await a.get() == "TOKEN-1"
        assert await b.get() == "TOKEN-1"
    assert len(workers.fake.token_calls) == 1


async def test_refresh_ahead_of_expiry_by_one_worker(workers: Workers) -> None:
    a, b = workers.worker("a"), workers.worker("b")
    assert await a.get() == "TOKEN-1"
    workers.clock.advance(seconds=7200 - 299)  # inside the 300 s lead
    assert await b.get() == "TOKEN-2"
    assert await a.get() == "TOKEN-2"  # from the database, not a second call
    assert len(workers.fake.token_calls) == 2
    assert (await workers.row()).expires_at == workers.clock.current + timedelta(seconds=7200)


async def test_invalidated_token_is_replaced_once(workers: Workers) -> None:
    a, b = workers.worker("a"), workers.worker("b")
    assert await a.get() == "TOKEN-1"
    assert await b.get() == "TOKEN-1"
    workers.fake.invalidate_tokens()
    await a.invalidate("TOKEN-1")
    assert await a.get() == "TOKEN-2"
    # b's late report about the old token must not throw away the new one.
    await b.invalidate("TOKEN-1")
    assert await b.get() == "TOKEN-2"
    assert len(workers.fake.token_calls) == 2


async def test_the_stored_token_is_sealed_and_shared(workers: Workers) -> None:
    box = SecretBox("k" * 40)
    a, b = workers.worker("a", box=box), workers.worker("b", box=box)
    assert await a.get() == "TOKEN-1"
    stored = (await workers.row()).access_token
    assert stored is not None and stored.startswith("sealed:v1:") and "TOKEN-1" not in stored
    assert await b.get() == "TOKEN-1"  # read from the row, opened
    workers.fake.invalidate_tokens()
    await a.invalidate("TOKEN-1")
    assert await a.get() == "TOKEN-2"
    # b's late report about the old token compares opened values: the new one stays.
    await b.invalidate("TOKEN-1")
    assert await b.get() == "TOKEN-2"
    assert len(workers.fake.token_calls) == 2


async def test_failed_refresh_releases_the_claim(workers: Workers) -> None:
    a, b = workers.worker("a"), workers.worker("b")
    workers.fake.fail_next("/cgi-bin/stable_token", Scripted(status=500), Scripted(status=500))
    with pytest.raises(ApiUnavailable):
        await a.get()
    row = await workers.row()
    assert (row.refreshing_by, row.refreshing_until) == (None, None)
    assert await b.get() == "TOKEN-1"


async def test_claim_of_a_dead_worker_expires(workers: Workers) -> None:
    a = workers.worker("a")
    assert await a.get() == "TOKEN-1"
    async with make_async_sessionmaker(workers.engines[0]).begin() as session:
        row = (await session.execute(select(ChannelToken))).scalar_one()
        row.expires_at = workers.clock.current  # due now
        row.refreshing_by = "dead-worker"
        row.refreshing_until = workers.clock.current + timedelta(seconds=30)
    b = workers.worker("b", poll_s=0.01)
    blocked = asyncio.create_task(b.get())
    await asyncio.sleep(0.05)
    assert not blocked.done(), "the claim is still live: b waits"
    workers.clock.advance(seconds=31)
    assert await asyncio.wait_for(blocked, 2) == "TOKEN-2"


async def test_same_near_expiry_token_is_not_asked_for_again(workers: Workers) -> None:
    workers.fake.expires_in = 100  # WeChat hands back a token with 100 s left
    a, b = workers.worker("a"), workers.worker("b")
    assert await a.get() == "TOKEN-1"
    assert await b.get() == "TOKEN-1"
    assert await a.get() == "TOKEN-1"
    assert len(workers.fake.token_calls) == 1
    row = await workers.row()
    assert row.refreshing_by == "a"
    assert row.refreshing_until == START + timedelta(seconds=90)
    workers.clock.advance(seconds=95)  # too close to expiry to hand out
    workers.fake.expires_in = 7200
    assert await b.get() == "TOKEN-2"
    assert len(workers.fake.token_calls) == 2


async def test_one_refresh_per_expiry_when_the_api_hands_back_the_same_token(
    workers: Workers,
) -> None:
    """WeCom's gettoken (and stable_token) return the token still held, with what it has
    left: near expiry nobody may ask per request, and the last seconds wait for it."""
    workers.fake.clock = workers.clock
    ws = [workers.worker(f"w{i}") for i in range(3)]
    assert {await w.get() for w in ws} == {"TOKEN-1"}
    assert len(workers.fake.token_calls) == 1

    workers.clock.advance(seconds=7200 - 299)  # due (300 s lead): one refresh, same token
    got = await asyncio.gather(*(w.get() for w in ws for _ in range(5)))
    assert set(got) == {"TOKEN-1"}
    assert len(workers.fake.token_calls) == 2

    workers.clock.advance(seconds=299 - 5)  # 5 s left: inside the safety margin
    waiting = [asyncio.create_task(w.get()) for w in ws for _ in range(5)]
    await asyncio.sleep(0.2)
    assert not any(task.done() for task in waiting), "a token about to expire is not handed out"
    assert len(workers.fake.token_calls) == 3  # asked once, got the same token back
    workers.clock.advance(seconds=6)  # it has expired: one of them asks once more
    got = await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert set(got) == {"TOKEN-2"}
    assert len(workers.fake.token_calls) == 4
