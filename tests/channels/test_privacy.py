"""A WeChat unsubscribe forgets the customer everywhere: after it, the customer's phone
number, ID number and openid appear in no text column of any table (SQLite and
PostgreSQL), and their open ticket is closed with a note."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, String, Text, select
from sqlalchemy.ext.asyncio import AsyncEngine

import storage.account_models
import storage.channel_models  # noqa: F401  (their tables are scanned too)
from bot.channels.testing import message_xml
from bot.lifecycle import ERASED_TEXT
from storage.db import make_async_sessionmaker
from storage.models import (
    Base,
    CheckRun,
    Customer,
    EventKind,
    Finding,
    Message,
    MessageRole,
    QaReview,
    Severity,
    Ticket,
    TicketEvent,
    TicketStatus,
    Timer,
    TimerStatus,
    Verdict,
)
from tests.channels.wechat_harness import OPENID, Bot, BotFactory

PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"
# The ways people write them; the scan looks for the bare digits with separators removed.
SAID = f"服务器开不了机，我电话 138-1234-5678，身份证{ID_NUMBER}"
SAID_WITHOUT_MSGID = "地址：北京市海淀区中关村大街1号，手机 138.1234.5678"
_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2015]")


async def scan_text_columns(engine: AsyncEngine, *needles: str) -> list[str]:
    """Every (table.column: value) of any text or JSON column holding one of `needles`
    (compared with spaces, dots and dashes taken out)."""
    hits: list[str] = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            rows = (await connection.execute(select(*columns))).all()
            for row in rows:
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = (
                        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    )
                    bare = _SEPARATORS.sub("", text)
                    if any(needle in text or needle in bare for needle in needles):
                        hits.append(f"{table.name}.{column.name}: {text[:80]}")
    return hits


async def _assigned(bot: Bot, number: str) -> str:
    detail = await bot.api("GET", f"/api/tickets/{number}", "9001")
    return str((detail.get("engineer") or {}).get("staff_no"))


async def _seed_a_finding(bot: Bot, number: str) -> None:
    """What `aftersales check --db --save` and a QA review would have stored."""
    async with make_async_sessionmaker(bot.engine)() as session, session.begin():
        run = CheckRun(source="db", policy_name="pusai", started_at=datetime.now(UTC))
        session.add(run)
        await session.flush()
        finding = Finding(
            check_run_id=run.id,
            session=number,
            rule="LNG006",
            severity=Severity.WARNING,
            message=f"客服称呼客户为“你”：你打{PHONE}",
            evidence=f"你打{PHONE}",
        )
        session.add(finding)
        await session.flush()
        session.add(
            Finding(
                check_run_id=run.id,
                session=OPENID,  # an imported transcript keyed by the customer's openid
                rule="SCR001",
                severity=Severity.ERROR,
                message="首条客服消息不是问候语",
                evidence=f"联系电话{PHONE}",
            )
        )
        session.add(
            QaReview(
                finding_id=finding.id,
                reviewer="qa",
                verdict=Verdict.CONFIRMED,
                reason=f"客户电话 {PHONE} 已核实",
            )
        )


async def test_an_unsubscribed_customers_phone_number_appears_nowhere(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    await bot.say(SAID)
    no_msgid = message_xml(
        bot.wechat.account,
        OPENID,
        "text",
        {"Content": SAID_WITHOUT_MSGID},
        create_time=bot.clock.unix,
    )
    assert (await bot.post(no_msgid))[0] == 200
    ticket = await bot.only_ticket()
    staff_no = await _assigned(bot, ticket.number)
    await bot.api("POST", f"/api/tickets/{ticket.number}/accept", staff_no)
    await bot.api(
        "POST",
        f"/api/tickets/{ticket.number}/messages",
        staff_no,
        text=f"您好，已记下您的电话{PHONE}，工程师稍后联系您",
    )
    await _seed_a_finding(bot, ticket.number)
    before = await scan_text_columns(bot.engine, PHONE, ID_NUMBER, OPENID)
    assert any(hit.startswith("messages.external_id") for hit in before), before
    assert {"messages.text", "messages.sender", "findings.evidence"} <= {
        hit.partition(":")[0] for hit in before
    }, before

    status, body = await bot.post(bot.wechat.event_xml(OPENID, "unsubscribe", bot.clock.unix))
    assert (status, body) == (200, "success")

    assert await scan_text_columns(bot.engine, PHONE, ID_NUMBER, OPENID) == []
    async with make_async_sessionmaker(bot.engine)() as session:
        stored = await session.get(Ticket, ticket.id)
        assert stored is not None and stored.status is TicketStatus.CLOSED
        assert stored.closed_at is not None
        note = await session.scalar(
            select(TicketEvent).where(TicketEvent.event == EventKind.CUSTOMER_FORGOTTEN)
        )
        assert note is not None and note.data["reason"] == "unsubscribe" and note.data["closed"]
        # No SPEC `closed` event: nobody closed the case on the customer.
        kinds = set(await session.scalars(select(TicketEvent.event)))
        assert EventKind.CLOSED not in kinds
        customer_lines = list(
            await session.scalars(select(Message.text).where(Message.role == MessageRole.CUSTOMER))
        )
        assert customer_lines and set(customer_lines) == {ERASED_TEXT}
        agent = await session.scalar(
            select(Message.text).where(Message.text.like("%已记下您的电话%"))
        )
        assert agent == "您好，已记下您的电话***********，工程师稍后联系您"
        pending = await session.scalar(select(Timer.id).where(Timer.status == TimerStatus.PENDING))
        assert pending is None
        customer = (await session.execute(select(Customer))).scalar_one()
        assert customer.anonymised_at is not None


async def test_after_forgetting_the_same_openid_is_a_new_customer(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机")
    await bot.post(bot.wechat.event_xml(OPENID, "unsubscribe", bot.clock.unix))
    await bot.say("我又关注了，硬盘报警")
    async with make_async_sessionmaker(bot.engine)() as session:
        customers = list(await session.scalars(select(Customer).order_by(Customer.id)))
        tickets: list[Any] = list(await session.scalars(select(Ticket).order_by(Ticket.id)))
    assert [c.external_id for c in customers] == [f"anon:{customers[0].id}", OPENID]
    assert [t.status for t in tickets] == [TicketStatus.CLOSED, TicketStatus.OPENED]
