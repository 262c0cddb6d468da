"""Paid work is quoted first and starts on the customer's confirmation (seed 004 1.5).

1.5.2.3: 维修需要的费用（包括维修费、配件费），由售后服务人员根据配件价格合理报价给
客户，以便客户决定是否维修; 1.5.3: 售后服务人员接到客户维修确认后，开始维修.  The
quote (amount and items) goes to the customer in the repair-quote line; a new
quote withdraws one not yet confirmed.  The confirmation is the customer's chat
message (its number; later than the quote line), or the engineer's note of a
confirmation given elsewhere (on the phone).  Repair, factory repair and the
vendor RMA refuse to start on a paid ticket without it
(`bot.lifecycle.aftercare.require_repair_allowed`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.aftercare import current_quote, warranty_of
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import ACTIVE, WORKERS, EventKind
from bot.prompting import PromptedLine
from bot.validation import Invalid, parse_id
from scripts_library import RepairQuoteInputs, ScriptKey, render, yuan
from storage.models import Message, MessageRole
from storage.repair_models import RepairQuote

_ITEM_SEPARATORS = re.compile(r"[\n;；]+")
MAX_AMOUNT_FEN = 100_000_000 * 100


@dataclass(frozen=True, slots=True)
class QuoteBody:
    amount: float = given("报价金额（元）")
    items: str = given("报价明细（每行或每个分号一项：配件、维修费…）", max_len=2000)


async def send_quote(ctx: ActionContext, body: QuoteBody) -> Outcome:
    """Price the paid work and send the quote to the customer."""
    warranty = await warranty_of(ctx.session, ctx.ticket.id)
    if warranty is None:
        raise TicketError("conflict", "warranty_not_assessed", "报价前须先判定保修")
    if warranty.free:
        raise TicketError(
            "conflict", "warranty_free", f"本工单为{warranty.reason}，免费维修，无需报价"
        )
    fen = round(body.amount * 100)
    if not 0 < fen <= MAX_AMOUNT_FEN:
        raise TicketError("invalid", "bad_field", "报价金额须大于 0", field="amount")
    items = tuple(item.strip() for item in _ITEM_SEPARATORS.split(body.items) if item.strip())
    if not items:
        raise TicketError("invalid", "bad_field", "请填写报价明细", field="items")
    previous = await current_quote(ctx.session, ctx.ticket.id)
    if previous is not None and previous.confirmed_at is not None:
        raise TicketError("conflict", "quote_confirmed", "客户已确认报价，不能再改报价")
    if previous is not None:
        previous.withdrawn = True
    key = ScriptKey.REPAIR_QUOTE
    inputs = RepairQuoteInputs(ctx.ticket.number, fen, items, address=ctx.address)
    line = await ctx.say(PromptedLine(key, render(key, inputs, ctx.ticket.channel)))
    ctx.session.add(
        RepairQuote(
            ticket_id=ctx.ticket.id,
            amount_fen=fen,
            items=list(items),
            quoted_by=ctx.actor.staff_no,
            quoted_at=ctx.now,
            quote_message_id=line.message_id,
            withdrawn=False,
        )
    )
    info = {"amount_fen": fen, "amount": yuan(fen), "items": list(items)}
    ctx.record(EventKind.QUOTE_SENT, data=info)
    return Outcome((EventKind.QUOTE_SENT,), {"quote": info})


@dataclass(frozen=True, slots=True)
class ConfirmationBody:
    message_id: str | None = given("客户确认的消息编号", default=None, max_len=20)
    note: str | None = given("客户在别处确认的说明（如电话确认）", default=None, max_len=500)


async def confirm_quote(ctx: ActionContext, body: ConfirmationBody) -> Outcome:
    """Record that the customer accepted the quote: their message, or the engineer's note."""
    quote = await current_quote(ctx.session, ctx.ticket.id)
    if quote is None:
        raise TicketError("conflict", "no_quote", "还没有向客户报价")
    if quote.confirmed_at is not None:
        raise TicketError("conflict", "quote_confirmed", "客户已确认报价")
    raw = (body.message_id or "").strip()
    note = (body.note or "").strip() or None
    data: dict[str, object]
    if raw:
        try:
            message = await ctx.session.get(Message, parse_id(raw))
        except Invalid:
            message = None
        if (
            message is None
            or message.ticket_id != ctx.ticket.id
            or message.role is not MessageRole.CUSTOMER
        ):
            raise TicketError(
                "invalid", "bad_field", f"消息 {raw} 不是本工单客户的消息", field="message_id"
            )
        if message.id <= (quote.quote_message_id or 0):
            raise TicketError(
                "invalid", "bad_field", f"消息 {raw} 早于报价，不能作为确认", field="message_id"
            )
        quote.confirmation_source = "customer"
        quote.confirmation_message_id = message.id
        quote.confirmed_by = message.sender
        data = {"source": "customer", "message_id": message.id, "text": message.text}
    elif note:
        quote.confirmation_source = "engineer"
        quote.confirmed_by = ctx.actor.staff_no
        data = {"source": "engineer", "note": note}
    else:
        raise TicketError(
            "invalid",
            "missing_field",
            "请填写客户确认的消息编号，或客户在别处确认的说明",
            field="message_id",
        )
    quote.confirmation_note = note
    quote.confirmed_at = ctx.now
    data["amount_fen"] = quote.amount_fen
    ctx.record(EventKind.QUOTE_CONFIRMED, data=data)
    return Outcome((EventKind.QUOTE_CONFIRMED,), {"quote": data})


QUOTE = Action(
    name="quote",
    title="维修报价",
    verb="报价",
    statuses=ACTIVE,
    roles=WORKERS,
    body=QuoteBody,
    records=(EventKind.QUOTE_SENT,),
    run=send_quote,
)
QUOTE_CONFIRMATION = Action(
    name="quote-confirmation",
    title="记录客户确认报价",
    verb="记录报价确认",
    statuses=ACTIVE,
    roles=WORKERS,
    body=ConfirmationBody,
    records=(EventKind.QUOTE_CONFIRMED,),
    run=confirm_quote,
)
