"""The sign-in throttle's counting on both databases: parallel attempts, two processes,
the growing delay, forgetting, unlocking (`bot.console.throttle`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.console import throttle
from compliance.policy import Policy
from storage.account_models import SigninThrottle
from tests.bot.conftest import Bot, start_bot
from tests.support import FakeClock

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
KEYS = (throttle.account_key("zhangsan"), throttle.address_key("10.0.0.7"))


async def test_the_delay_grows_and_a_lockout_ends(bot: Bot) -> None:
    tickets = bot.services.tickets
    for n in range(4):
        assert (await throttle.attempt(tickets, KEYS, T0 + timedelta(seconds=n))).allowed
    # The fifth attempt is counted and locks the account for 30 s.
    assert (await throttle.attempt(tickets, KEYS, T0 + timedelta(seconds=4))).allowed
    refused = await throttle.attempt(tickets, KEYS, T0 + timedelta(seconds=10))
    assert not refused.allowed and refused.retry_after_s == 24
    assert refused.key == "account:zhangsan"
    # Refused attempts are not counted: the lockout ends on time.
    later = T0 + timedelta(seconds=35)
    assert (await throttle.attempt(tickets, KEYS, later)).allowed
    refused = await throttle.attempt(tickets, KEYS, later + timedelta(seconds=1))
    assert refused.retry_after_s == 59  # the sixth attempt: 60 s
    async with bot.services.sessionmaker() as db:
        row = await db.get(SigninThrottle, "account:zhangsan")
    assert row is not None and row.failures == 6


async def test_parallel_guesses_cannot_pass_the_count(bot: Bot) -> None:
    tickets = bot.services.tickets
    verdicts = await asyncio.gather(*(throttle.attempt(tickets, KEYS, T0) for _ in range(12)))
    assert sum(v.allowed for v in verdicts) == 5


async def test_two_processes_see_one_lockout(
    bot: Bot, aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock
) -> None:
    other = await start_bot(aiohttp_client, policy, db_url, clock, instance_id="test-b")
    for n in range(5):
        side = bot if n % 2 else other
        assert (await throttle.attempt(side.services.tickets, KEYS, T0)).allowed
    assert not (await throttle.attempt(other.services.tickets, KEYS, T0)).allowed
    assert not (await throttle.attempt(bot.services.tickets, KEYS, T0)).allowed
    assert await throttle.unlock(other.services.tickets, "account:zhangsan", "root")
    assert (await throttle.attempt(bot.services.tickets, KEYS, T0)).allowed


async def test_an_old_count_is_forgotten_and_success_clears_it(bot: Bot) -> None:
    tickets = bot.services.tickets
    for _ in range(4):
        await throttle.attempt(tickets, KEYS, T0)
    assert (await throttle.attempt(tickets, KEYS, T0 + timedelta(hours=2))).allowed
    async with bot.services.sessionmaker() as db:
        row = await db.get(SigninThrottle, "account:zhangsan")
        assert row is not None and row.failures == 1 and row.locked_until is None
    await throttle.succeeded(tickets, "zhangsan", "10.0.0.7")
    async with bot.services.sessionmaker() as db:
        assert await db.get(SigninThrottle, "account:zhangsan") is None
        address = await db.get(SigninThrottle, "address:10.0.0.7")
        assert address is not None and address.failures == 0
    assert await throttle.locked_keys(tickets, T0) == []
