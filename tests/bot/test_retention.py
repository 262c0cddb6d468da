"""Retention: closed tickets' customer texts are masked after `AFTERSALES_RETENTION_DAYS`,
once, by the scheduler's chore or `aftersales privacy retention` (both databases)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import main
from compliance.policy import Policy
from storage.models import EventKind, Message, MessageRole, Ticket, TicketEvent, TicketStatus
from tests.bot.conftest import Bot, start_bot
from tests.support import FakeClock

SAID = "服务器坏了，我电话 138 1234 5678"


async def _close(bot: Bot, number: str, days_ago: int) -> None:
    async with bot.services.tickets.transaction() as db:
        ticket = await db.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        ticket.status = TicketStatus.CLOSED
        ticket.closed_at = bot.services.now() - timedelta(days=days_ago)


async def _customer_texts(bot: Bot, number: str) -> list[str]:
    async with bot.services.sessionmaker() as db:
        return list(
            await db.scalars(
                select(Message.text)
                .join(Ticket, Message.ticket_id == Ticket.id)
                .where(Ticket.number == number, Message.role == MessageRole.CUSTOMER)
            )
        )


async def test_closed_tickets_past_retention_are_masked_once(bot: Bot) -> None:
    old = (await bot.say(await bot.visitor(), SAID))["ticket"]
    recent = (await bot.say(await bot.visitor(), SAID))["ticket"]
    still_open = (await bot.say(await bot.visitor(), SAID))["ticket"]
    await _close(bot, old, days_ago=40)
    await _close(bot, recent, days_ago=10)
    assert await bot.services.tickets.mask_expired(30) == [old]
    assert await _customer_texts(bot, old) == ["服务器坏了，我电话 *** **** ****"]
    assert await _customer_texts(bot, recent) == [SAID]
    assert await _customer_texts(bot, still_open) == [SAID]
    assert await bot.services.tickets.mask_expired(30) == []
    async with bot.services.sessionmaker() as db:
        marks = list(
            await db.scalars(
                select(TicketEvent.data).where(TicketEvent.event == EventKind.RETENTION_MASKED)
            )
        )
    assert marks == [{"retention_days": 30}]


async def test_the_scheduler_runs_the_retention_chore_hourly(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock
) -> None:
    bot = await start_bot(aiohttp_client, policy, db_url, clock, retention_days=30)
    number = (await bot.say(await bot.visitor(), SAID))["ticket"]
    await _close(bot, number, days_ago=31)
    scheduler = bot.services.scheduler
    assert await scheduler.run_chores() == ["retention"]
    assert await _customer_texts(bot, number) == ["服务器坏了，我电话 *** **** ****"]
    assert await scheduler.run_chores() == []  # not again within the hour
    clock.advance(hours=1)
    assert await scheduler.run_chores() == ["retention"]


async def test_no_chore_when_retention_is_off(
    aiohttp_client: Any, policy: Policy, sqlite_url: str, clock: FakeClock
) -> None:
    bot = await start_bot(aiohttp_client, policy, sqlite_url, clock, retention_days=0)
    assert await bot.services.scheduler.run_chores() == []


def test_the_cli_masks_and_names_a_bad_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["privacy", "retention", "--days", "30", "--db", url]) == 0
    assert '"masked": []' in capsys.readouterr().out
    assert main(["privacy", "retention", "--days", "0", "--db", url]) == 2
    assert "--days must be 1 or more" in capsys.readouterr().err
    assert main(["privacy", "forget", "--db", url]) == 2
    assert "--ticket" in capsys.readouterr().err
    assert main(["privacy", "forget", "--ticket", "PS-1", "--db", url]) == 2
    assert "no customer for PS-1" in capsys.readouterr().err
