"""Two app instances on one PostgreSQL database (two `serve` processes): one ticket per
message under concurrent redelivery, one ticket per customer under concurrent messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from compliance.policy import Policy
from tests.bot.conftest import Bot, start_bot
from tests.bot.test_web import counts
from tests.support import FakeClock

pytestmark = pytest.mark.postgres


async def two_bots(aiohttp_client: Any, policy: Policy, pg_url: str) -> tuple[Bot, Bot]:
    clock = FakeClock()
    first = await start_bot(aiohttp_client, policy, pg_url, clock, instance_id="proc-1")
    second = await start_bot(aiohttp_client, policy, pg_url, clock, instance_id="proc-2")
    return first, second


async def test_concurrent_redelivery_to_two_instances_stores_once(
    aiohttp_client: Any, policy: Policy, pg_url: str
) -> None:
    first, second = await two_bots(aiohttp_client, policy, pg_url)
    visitor = await first.visitor()
    body = {"visitor": visitor, "client_id": "redelivered-1", "text": "服务器宕机了"}
    responses = await asyncio.gather(
        *(bot.client.post("/chat/api/messages", json=body) for bot in [first, second] * 4)
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 7 + [201]
    answers = [await r.json() for r in responses]
    assert len({a["ticket"] for a in answers}) == 1
    assert len({a["message"]["id"] for a in answers}) == 1
    greetings = [a["replies"] for a in answers if a["replies"]]
    assert len(greetings) == 1  # greeted once, by whichever instance won
    assert counts(pg_url) == (1, 1, 2)


async def test_concurrent_messages_of_a_new_customer_open_one_ticket(
    aiohttp_client: Any, policy: Policy, pg_url: str
) -> None:
    first, second = await two_bots(aiohttp_client, policy, pg_url)
    visitor = await first.visitor()
    texts = ["服务器开不了机", "型号 PS-2288", "急用", "在吗"]
    responses = await asyncio.gather(
        *(
            bot.client.post(
                "/chat/api/messages",
                json={"visitor": visitor, "client_id": f"m-{i:07d}", "text": text},
            )
            for i, (bot, text) in enumerate(zip([first, second] * 2, texts, strict=True))
        )
    )
    assert [r.status for r in responses] == [201] * 4
    answers = [await r.json() for r in responses]
    assert len({a["ticket"] for a in answers}) == 1
    assert sum(len(a["replies"]) for a in answers) == 1  # one greeting for the ticket
    assert counts(pg_url) == (1, 1, 5)


async def test_concurrent_first_messages_get_distinct_ticket_numbers(
    aiohttp_client: Any, policy: Policy, pg_url: str
) -> None:
    first, second = await two_bots(aiohttp_client, policy, pg_url)
    visitors = [await first.visitor() for _ in range(8)]
    answers = await asyncio.gather(
        *(
            bot.say(visitor, "硬盘告警")
            for bot, visitor in zip([first, second] * 4, visitors, strict=True)
        )
    )
    numbers = sorted(a["ticket"] for a in answers)
    assert numbers == [f"PS-20261123-{n:04d}" for n in range(1, 9)]
    # Work spread over both engineers (fewest open tickets first).
    engineers = [(await first.ticket(n))["engineer"]["staff_no"] for n in numbers]
    assert sorted(engineers) == ["1818"] * 4 + ["2046"] * 4


async def test_timers_and_actions_on_one_ticket_never_deadlock(
    aiohttp_client: Any, policy: Policy, pg_url: str
) -> None:
    first, second = await two_bots(aiohttp_client, policy, pg_url)
    numbers = []
    for _ in range(6):
        visitor = await first.visitor()
        numbers.append((await first.say(visitor, "服务器宕机了"))["ticket"])
    first.clock.advance(minutes=20)  # both accept reminders are due for every ticket
    scheduler = second.services.scheduler
    scheduler.batch = 1  # fire ticket by ticket while the accepts run
    accepts = asyncio.gather(
        *(
            first.client.post(f"/api/tickets/{n}/accept", headers={"X-Staff-No": "9001"})
            for n in numbers
        )
    )
    fired, responses = await asyncio.gather(scheduler.run_due(), accepts)
    assert [r.status for r in responses] == [200] * 6
    # A timer cancelled by the accept after it was claimed is skipped, never failed.
    assert {f.status for f in fired} <= {"fired", "skipped"}
    for number in numbers:
        assert (await first.ticket(number))["status"] == "accepted"
