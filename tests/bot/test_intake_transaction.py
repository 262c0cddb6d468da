"""One inbound message, one transaction: the channel's idempotency record, the customer
row and the message commit together or not at all (issue 15 item 2)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle import intake
from bot.messages import InboundMessage
from storage.models import Customer, Engineer, Message, Ticket
from tests.bot.conftest import Bot


class Refused(Exception):
    pass


def _inbound(bot: Bot, customer: str, external_id: str, text: str = "服务器开不了机了") -> Any:
    return InboundMessage(
        channel="web",
        customer_id=customer,
        external_id=external_id,
        sent_at=bot.clock.now(),
        text=text,
    )


async def _count(bot: Bot, model: Any) -> int:
    async with bot.services.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_refusal_in_the_channels_record_leaves_no_customer(bot: Bot) -> None:
    async def refuse(session: AsyncSession) -> None:
        session.add(Engineer(staff_no="7777", name="不该留下", roles=["engineer"]))
        await session.flush()
        raise Refused("the channel's record refused the event")

    engineers = await _count(bot, Engineer)
    with pytest.raises(Refused):
        await bot.services.tickets.receive(_inbound(bot, "new-1", "new-1:m1"), before=refuse)
    assert (await _count(bot, Customer), await _count(bot, Message)) == (0, 0)
    assert await _count(bot, Engineer) == engineers  # the record rolled back with it


async def test_a_message_that_fails_to_store_leaves_no_customer(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the customer was committed on its own, then the message insert failed."""
    real = intake._receive

    async def failing(*args: Any) -> Any:
        await real(*args)
        raise RuntimeError("the message insert failed")

    monkeypatch.setattr(intake, "_receive", failing)
    with pytest.raises(RuntimeError):
        await bot.services.tickets.receive(_inbound(bot, "new-2", "new-2:m1"))
    counts = [await _count(bot, model) for model in (Customer, Ticket, Message)]
    assert counts == [0, 0, 0]

    monkeypatch.setattr(intake, "_receive", real)
    receipt = await bot.services.tickets.receive(_inbound(bot, "new-2", "new-2:m1"))
    assert receipt.opened and not receipt.duplicate
    assert await _count(bot, Customer) == 1


async def test_the_record_and_the_message_commit_together(bot: Bot) -> None:
    seen: list[int] = []

    async def record(session: AsyncSession) -> None:
        # In the message's transaction: nothing of it is visible yet.
        seen.append(int(await session.scalar(select(func.count()).select_from(Message)) or 0))

    receipt = await bot.services.tickets.receive(_inbound(bot, "new-3", "new-3:m1"), before=record)
    again = await bot.services.tickets.receive(_inbound(bot, "new-3", "new-3:m1"), before=record)
    assert seen == [0, await _count(bot, Message)]
    assert again.duplicate and again.message_id == receipt.message_id
    assert await _count(bot, Customer) == 1
