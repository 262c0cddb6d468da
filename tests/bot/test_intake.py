"""Intake: a redelivered message is answered with what its first delivery was answered with,
and nothing an engineer wrote meanwhile passes for that answer."""

from __future__ import annotations

from bot.messages import InboundMessage
from tests.bot.conftest import Bot


def _inbound(bot: Bot, text: str, external_id: str) -> InboundMessage:
    return InboundMessage(
        channel="web",
        customer_id="visitor-1",
        external_id=external_id,
        sent_at=bot.clock.now(),
        text=text,
    )


async def test_a_redelivery_carries_the_first_answer_and_only_that(bot: Bot) -> None:
    tickets = bot.services.tickets
    first = await tickets.receive(_inbound(bot, "服务器开不了机了", "visitor-1:m1"))
    assert [r.prompted_by for r in first.replies] == ["greeting"]
    assert first.earlier_replies == ()
    # The engineer writes at once, in the same second: not an answer to m1.
    await bot.act(first.ticket_number, "accept")
    await bot.act(first.ticket_number, "messages", text="您好，请问服务器型号是什么？")

    again = await tickets.receive(_inbound(bot, "服务器开不了机了", "visitor-1:m1"))
    assert again.duplicate and again.replies == ()
    assert [(r.message_id, r.text) for r in again.earlier_replies] == [
        (first.replies[0].message_id, first.replies[0].text)
    ]
    assert again.earlier_replies[0].customer_id == "visitor-1"
    assert again.earlier_replies[0].ticket_number == first.ticket_number


async def test_lines_answering_a_later_message_are_that_messages(bot: Bot) -> None:
    tickets = bot.services.tickets
    first = await tickets.receive(_inbound(bot, "服务器开不了机了", "visitor-1:m1"))
    number = first.ticket_number
    await bot.act(number, "accept")
    await bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    await bot.act(number, "resolve", ask_suggestion=False)
    bot.clock.advance(minutes=1)
    rating = await tickets.receive(_inbound(bot, "很满意", "visitor-1:m2"))
    # A good rating: thanks, then the review invitation (seed 000 2.a.2 邀评).
    assert [r.prompted_by for r in rating.replies] == ["thanks", "review_invitation"]
    later = await tickets.receive(_inbound(bot, "很满意", "visitor-1:m2"))
    assert [r.message_id for r in later.earlier_replies] == [r.message_id for r in rating.replies]
    again = await tickets.receive(_inbound(bot, "服务器开不了机了", "visitor-1:m1"))
    assert [r.prompted_by for r in again.earlier_replies] == ["greeting"]
