"""The 公众号 webhook against a database slowed on purpose: every request is answered
within the reply budget, the message is in the intake journal before the answer, the
greeting follows by custom/send, and nothing is lost or sent twice.

The slowdown is the database's own: a trigger makes every insert into ``messages``
wait (PostgreSQL: ``pg_sleep``; SQLite: a function sleeping in the driver's thread),
so the ticket work a message causes takes seconds while the event loop stays free.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text

from bot.channels.testing import FakeWeChatApi
from bot.channels.wechat import WECHAT
from bot.channels.wechat_intake import IntakeSweep
from bot.context import SERVICES
from storage.channel_models import InboxMessage
from storage.db import make_async_sessionmaker, make_engine
from storage.models import DeliveryStatus, Message, MessageRole, Ticket
from tests.channels.wechat_harness import OPENID, Bot, BotFactory, wechat_env

BUDGET_S = 0.5
# Every stored line waits this long: a first message (itself and the greeting)
# takes at least twice as long as the budget.
INSERT_DELAY_S = 0.6
# The answer comes at the budget; this much more is the test machine's slack,
# still well before the slowed work (≥ 1.2 s) could have finished.
SLACK_S = 0.4


@contextmanager
def slowed_messages(db_url: str) -> Iterator[None]:
    """Make every INSERT INTO messages of `db_url` take `INSERT_DELAY_S` longer."""
    engine = make_engine(db_url)

    def register(dbapi_connection: Any, _record: Any) -> None:
        if hasattr(dbapi_connection, "create_function"):  # SQLite (sync or aiosqlite)
            dbapi_connection.create_function("slow", 0, lambda: time.sleep(INSERT_DELAY_S))

    event.listen(Engine, "connect", register)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(
                    text(
                        "CREATE TRIGGER slow_messages BEFORE INSERT ON messages "
                        "BEGIN SELECT slow(); END"
                    )
                )
            else:
                conn.execute(
                    text(
                        "CREATE FUNCTION slow_messages() RETURNS trigger LANGUAGE plpgsql AS "
                        f"$$ BEGIN PERFORM pg_sleep({INSERT_DELAY_S}); RETURN NEW; END $$"
                    )
                )
                conn.execute(
                    text(
                        "CREATE TRIGGER slow_messages BEFORE INSERT ON messages "
                        "FOR EACH ROW EXECUTE FUNCTION slow_messages()"
                    )
                )
        yield
    finally:
        event.remove(Engine, "connect", register)
        engine.dispose()


async def _timed_post(bot: Bot, xml: str) -> tuple[float, int, str]:
    started = time.monotonic()
    status, body = await bot.post(xml)
    return time.monotonic() - started, status, body


async def _settled(bot: Bot) -> None:
    intake = bot.app[WECHAT].intake
    assert intake is not None
    assert await intake.settle(wait_s=30) == set()


async def _journalled(bot: Bot) -> list[str]:
    async with make_async_sessionmaker(bot.engine)() as session:
        return list((await session.execute(select(InboxMessage.external_id))).scalars())


def _env(fake_api: tuple[FakeWeChatApi, str]) -> dict[str, str]:
    return wechat_env(
        fake_api[1], AFTERSALES_WECHAT_REPLY_BUDGET_S=str(BUDGET_S), AFTERSALES_WECHAT_SWEEP_S="0"
    )


@pytest.fixture
async def slow_bot(
    make_bot: BotFactory, db_url: str, fake_api: tuple[FakeWeChatApi, str]
) -> AsyncIterator[Bot]:
    """The app on `db_url` with the messages table slowed (from before the app starts)."""
    with slowed_messages(db_url):
        yield await make_bot(db_url, env=_env(fake_api))


async def test_a_slow_database_is_answered_within_the_budget_and_the_greeting_follows(
    slow_bot: Bot, db_url: str
) -> None:
    bot = slow_bot
    xml = bot.wechat.text_xml(OPENID, "服务器开不了机了", 9_100_001, bot.clock.unix)
    elapsed, status, body = await _timed_post(bot, xml)
    assert (status, body) == (200, "success")
    assert elapsed < BUDGET_S + SLACK_S, elapsed
    # Stored before the answer: the journal has it, whatever the tickets do.
    assert await _journalled(bot) == ["9100001"]
    await _settled(bot)

    [greeting] = bot.fake.sent_texts(OPENID)
    assert greeting.startswith("您好，我是朴赛售后服务中心运维工程师")
    line = await bot.line(greeting)
    assert line.delivery_status is DeliveryStatus.SENT  # custom/send, not a passive reply

    # WeChat redelivers (as if our answer was lost): answered in time, nothing twice.
    elapsed, status, body = await _timed_post(bot, xml)
    assert (status, body) == (200, "success")
    assert elapsed < BUDGET_S + SLACK_S, elapsed
    await _settled(bot)
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) == 1
    assert await bot.count(Ticket) == 1
    assert bot.fake.sent_texts(OPENID) == [greeting]
    assert await bot.count(Message, Message.role == MessageRole.AGENT) == 1


@pytest.mark.postgres
async def test_a_burst_on_a_slow_postgresql_is_answered_within_the_budget(
    make_bot: BotFactory, pg_url: str, fake_api: tuple[FakeWeChatApi, str]
) -> None:
    # PostgreSQL only: on SQLite one slow write transaction holds every other write.
    with slowed_messages(pg_url):
        bot = await make_bot(pg_url, env=_env(fake_api))
        messages = [
            bot.wechat.text_xml(f"oBurst{i}", f"第{i}台服务器宕机", 9_200_000 + i, bot.clock.unix)
            for i in range(4)
        ]
        # Four customers at once, each message delivered twice at once (WeChat's retry).
        answers = await asyncio.gather(*(_timed_post(bot, xml) for xml in messages * 2))
        assert {(status, body) for _, status, body in answers} == {(200, "success")}
        assert max(elapsed for elapsed, _, _ in answers) < BUDGET_S + SLACK_S
        await _settled(bot)
    assert sorted(await _journalled(bot)) == [str(9_200_000 + i) for i in range(4)]
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) == 4
    assert await bot.count(Ticket) == 4
    for i in range(4):
        [greeting] = bot.fake.sent_texts(f"oBurst{i}")
        assert greeting.startswith("您好，我是朴赛售后服务中心")
    assert await bot.count(Message, Message.role == MessageRole.AGENT) == 4


async def test_the_sweep_finishes_a_journalled_message_a_stopped_process_left(
    slow_bot: Bot,
) -> None:
    bot = slow_bot
    # As if the process had stopped right after answering: journalled, not processed.
    async with make_async_sessionmaker(bot.engine).begin() as session:
        session.add(
            InboxMessage(
                channel="wechat",
                external_id="9300001",
                customer_id=OPENID,
                payload={"kind": "text", "text": "硬盘亮红灯", "raw": {"MsgId": "9300001"}},
                received_at=bot.clock.now(),
            )
        )
    intake = bot.app[WECHAT].intake
    assert intake is not None
    sweep = IntakeSweep(bot.app[SERVICES], intake)
    assert await sweep.run() == 0  # too fresh: the webhook may still be working on it
    bot.clock.advance(minutes=2)
    assert await sweep.run() == 1
    [stored] = await bot.messages(MessageRole.CUSTOMER)
    assert (stored.external_id, stored.text) == ("9300001", "硬盘亮红灯")
    [greeting] = bot.fake.sent_texts(OPENID)
    assert "运维工程师" in greeting
    assert await sweep.run() == 0  # done: not again
    assert bot.fake.sent_texts(OPENID) == [greeting]


async def test_a_redelivery_while_the_late_work_finishes_never_sends_the_greeting_twice(
    slow_bot: Bot,
) -> None:
    # The first delivery is answered `success` at the budget and its work goes on; the
    # redelivery comes while that work is finishing, so its own budget sees the work
    # done.  The greeting then goes out once: in the redelivery's passive reply or by
    # custom/send, never both.
    bot = slow_bot
    xml = bot.wechat.text_xml(OPENID, "服务器开不了机了", 9_400_001, bot.clock.unix)
    _, status, body = await _timed_post(bot, xml)
    assert (status, body) == (200, "success")
    await asyncio.sleep(2 * INSERT_DELAY_S - BUDGET_S - 0.2)
    _, status, body = await _timed_post(bot, xml)
    assert status == 200
    await _settled(bot)
    passive = [] if body == "success" else [bot.wechat.open_reply(body)["Content"]]
    pushed = bot.fake.sent_texts(OPENID)
    greetings = [text for text in passive + pushed if "运维工程师" in text]
    assert len(greetings) == 1, (passive, pushed)
    [line] = await bot.messages(MessageRole.AGENT)
    expected = DeliveryStatus.ANSWERED if passive else DeliveryStatus.SENT
    assert line.delivery_status is expected
