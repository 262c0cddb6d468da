"""Warranty at intake (seed 000 1.2, seed 004 1.1.1): the unit, the proof, the decision.

The engineer captures the serial number, model, sign-for date and proof of
purchase — a customer's chat message that carries the photo or file of the
invoice, or a typed invoice / order number.  The decision follows: counted from
the day after sign-for, within 3 months a new unit, within 6 a refurbished one,
within 3 years free repair, later paid; any paid-repair exclusion (2.e 1–10)
makes it paid; no proof of purchase is out-of-warranty handling (004 1.1.1.2).
A part named in one of the customer's sales contracts is covered by the
contract's term instead (000 1.2.d).  The decision is stored on the ticket
(`TicketWarranty`, and the tier on the ticket row), recorded as
``warranty_assessed``, and the warranty-outcome line tells the customer the
result and who pays.  Assessing again replaces the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import ACTIVE, WORKERS, EventKind
from bot.prompting import PromptedLine
from bot.validation import Invalid, parse_id
from bot.warranty import (
    ContractTerms,
    WarrantyAssessment,
    WarrantyError,
    assess_contract_part,
    assess_warranty,
    assess_without_proof,
)
from compliance.policy import Policy
from scripts_library import ScriptKey, WarrantyOutcomeInputs, render
from storage.models import Message, MessageRole
from storage.repair_models import SalesContract, TicketWarranty

# Message kinds that carry a photo or a file (the proof itself stays with the message).
PROOF_KINDS = frozenset({"image", "file", "video"})


def exclusion_options(policy: Policy) -> Sequence[tuple[str, str]]:
    """The policy's paid-repair exclusions, as a form offers them."""
    return [(exclusion.code, exclusion.text) for exclusion in policy.warranty.exclusions]


@dataclass(frozen=True, slots=True)
class WarrantyBody:
    signed_for: date | None = given("签收日期", default=None)
    serial_no: str | None = given("产品序列号", default=None, max_len=64)
    model: str | None = given("产品型号", default=None, max_len=128)
    proof_message_id: str | None = given(
        "购买凭证：客户发来的图片或文件消息编号", default=None, max_len=20
    )
    proof_reference: str | None = given("购买凭证：发票号或订单号", default=None, max_len=128)
    part: str | None = given("单部件（按销售合同质保时填写）", default=None, max_len=128)
    exclusions: tuple[str, ...] = given("有偿保修情形", default=(), options=exclusion_options)


async def _proof_message(ctx: ActionContext, raw: str) -> Message:
    """The customer's message on this ticket that carries the proof of purchase."""
    try:
        message_id = parse_id(raw)
    except Invalid:
        raise TicketError(
            "invalid", "bad_field", "购买凭证消息编号须为数字", field="proof_message_id"
        ) from None
    message = await ctx.session.get(Message, message_id)
    if message is None or message.ticket_id != ctx.ticket.id:
        raise TicketError(
            "invalid",
            "bad_field",
            f"消息 {raw} 不是本工单的消息",
            field="proof_message_id",
        )
    if message.role is not MessageRole.CUSTOMER or message.kind not in PROOF_KINDS:
        raise TicketError(
            "invalid",
            "bad_field",
            f"消息 {raw} 不是客户发来的图片或文件；发票号或订单号请填在“发票号或订单号”",
            field="proof_message_id",
        )
    return message


async def _contract_for(ctx: ActionContext, part: str) -> SalesContract | None:
    """The customer's latest contract that lists `part` (compared without case or spaces)."""
    wanted = part.replace(" ", "").lower()
    rows = await ctx.session.execute(
        select(SalesContract)
        .where(SalesContract.customer_id == ctx.ticket.customer_id)
        .order_by(SalesContract.signed_on.desc(), SalesContract.id.desc())
    )
    for contract in rows.scalars():
        if any(p.replace(" ", "").lower() == wanted for p in contract.parts or []):
            return contract
    return None


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


async def assess(ctx: ActionContext, body: WarrantyBody) -> Outcome:
    """Capture the unit's facts, decide the warranty and tell the customer."""
    ticket, policy = ctx.ticket, ctx.desk.policy.warranty
    reported = ctx.desk.prompter.local_date(ticket.opened_at)
    reference, part = _clean(body.proof_reference), _clean(body.part)
    message_ref = _clean(body.proof_message_id)
    message = await _proof_message(ctx, message_ref) if message_ref else None
    has_proof = message is not None or reference is not None
    if has_proof and body.signed_for is None:
        raise TicketError(
            "invalid", "missing_field", "有购买凭证时须填写签收日期", field="signed_for"
        )
    contract = await _contract_for(ctx, part) if part and has_proof else None
    result: WarrantyAssessment
    try:
        if not has_proof:
            result = assess_without_proof(policy, reported, body.exclusions)
        elif contract is not None and part is not None:
            terms = ContractTerms(contract.number, contract.signed_on, contract.term_months)
            result = assess_contract_part(
                policy, terms, part, body.signed_for, reported, body.exclusions
            )
        else:
            assert body.signed_for is not None
            result = assess_warranty(policy, body.signed_for, reported, body.exclusions)
    except WarrantyError as exc:
        raise TicketError("invalid", "bad_field", str(exc)) from None

    row = await ctx.session.get(TicketWarranty, ticket.id)
    if row is None:
        row = TicketWarranty(ticket_id=ticket.id)
        ctx.session.add(row)
    row.serial_no = _clean(body.serial_no)
    row.model = _clean(body.model)
    row.signed_for = body.signed_for
    row.proof_message_id = message.id if message is not None else None
    row.proof_reference = reference
    row.part = part
    row.contract_id = contract.id if contract is not None else None
    row.tier = result.tier
    row.free = result.free
    row.reason = result.reason
    row.covered_until = result.covered_until
    row.exclusions = [{"code": e.code, "text": e.text} for e in result.exclusions]
    row.assessed_by = ctx.actor.staff_no
    row.assessed_at = ctx.now
    ticket.sign_for_date = body.signed_for
    ticket.serial_no = row.serial_no
    ticket.warranty_status = result.tier
    ticket.warranty_reason = result.reason

    facts = {
        **result.to_dict(),
        "serial_no": row.serial_no,
        "model": row.model,
        "proof": "message" if message else "reference" if reference else None,
        "proof_message_id": row.proof_message_id,
        "proof_reference": reference,
        "part": part,
        "contract": contract.number if contract is not None else None,
    }
    ctx.record(EventKind.WARRANTY_ASSESSED, data=facts)
    inputs = WarrantyOutcomeInputs(
        ticket.number, result.label, result.reason, result.free, address=ctx.address
    )
    key = ScriptKey.WARRANTY_OUTCOME
    await ctx.say(PromptedLine(key, render(key, inputs, ticket.channel)))
    return Outcome((EventKind.WARRANTY_ASSESSED,), {"warranty": facts})


WARRANTY = Action(
    name="warranty",
    title="判定保修",
    verb="判定保修",
    statuses=ACTIVE,
    roles=WORKERS,
    body=WarrantyBody,
    records=(EventKind.WARRANTY_ASSESSED,),
    run=assess,
)
