"""A customer's sales contract (seed 000 1.2.d): the single-part warranty it grants.

售出的单部件质保期限以销售与客户达成的条款规定为执行标准（详见销售合同）: the
engineer records the contract of the ticket's customer — its number, the parts
it covers and their term in months, counted from the day after signing like
every warranty period.  The warranty decision then looks a named part up in
the customer's contracts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import ACTIVE, WORKERS, EventKind
from bot.warranty import period_last_day
from storage.repair_models import SalesContract

_SEPARATORS = re.compile(r"[,，、;；\n]+")
MAX_TERM_MONTHS = 120


@dataclass(frozen=True, slots=True)
class ContractBody:
    number: str = given("销售合同编号", max_len=64)
    parts: str = given("合同约定质保的部件（用逗号或顿号分隔）", max_len=500)
    signed_on: date = given("合同签订日期")
    term_months: float = given("单部件质保期（月）")


async def record_contract(ctx: ActionContext, body: ContractBody) -> Outcome:
    """Record the customer's sales contract and the parts it covers."""
    parts = [p.strip() for p in _SEPARATORS.split(body.parts) if p.strip()]
    if not parts:
        raise TicketError("invalid", "bad_field", "请填写合同约定质保的部件", field="parts")
    months = body.term_months
    if months != int(months) or not 1 <= months <= MAX_TERM_MONTHS:
        raise TicketError(
            "invalid",
            "bad_field",
            f"质保期须为 1–{MAX_TERM_MONTHS} 的整月数，收到 {months:g}",
            field="term_months",
        )
    taken = await ctx.session.scalar(
        select(SalesContract).where(SalesContract.number == body.number)
    )
    if taken is not None:
        raise TicketError(
            "conflict", "contract_exists", f"销售合同 {body.number} 已登记", field="number"
        )
    contract = SalesContract(
        customer_id=ctx.ticket.customer_id,
        number=body.number,
        parts=parts,
        signed_on=body.signed_on,
        term_months=int(months),
        recorded_by=ctx.actor.staff_no,
        created_at=ctx.now,
    )
    ctx.session.add(contract)
    info = {
        "number": body.number,
        "parts": parts,
        "signed_on": body.signed_on.isoformat(),
        "term_months": int(months),
        "covered_until": period_last_day(body.signed_on, int(months)).isoformat(),
    }
    ctx.record(EventKind.CONTRACT_RECORDED, data=info)
    return Outcome((EventKind.CONTRACT_RECORDED,), {"contract": info})


CONTRACT = Action(
    name="contract",
    title="登记销售合同",
    verb="登记销售合同",
    statuses=ACTIVE,
    roles=WORKERS,
    body=ContractBody,
    records=(EventKind.CONTRACT_RECORDED,),
    run=record_contract,
)
