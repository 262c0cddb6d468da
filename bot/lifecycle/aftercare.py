"""After the chat: the warranty facts, the quote, the repair paths and the loaned unit of
a ticket, as the actions and timers need them and as the ticket page shows them.

- `require_repair_allowed` — repair (in-house, factory, vendor RMA) starts only
  once the warranty is decided and, for paid work, the customer confirmed the
  quote (seed 004 1.5.2.3, 1.5.3: 接到客户维修确认后，开始维修).
- `pause_progress` / `resume_progress` — the day-4 / day-7 updates do not count
  the days the unit spends at the vendor (seed 000 2.1.c: 以上交付周期不包含原厂
  保修周期): the pending progress timers are taken off when the part leaves and
  put back, later by the working days it was away, when it returns.
- `progress_status` — what the progress update says the ticket is doing now.
- `aftercare_view` — the ticket page's warranty panel and the API's ``aftercare``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.journal import TicketState, state_of
from bot.lifecycle.vocabulary import TimerKind
from bot.warranty import TIER_LABELS, period_last_day
from compliance.calendar import WorkCalendar, as_aware
from compliance.policy import Policy
from scripts_library import cn_date, yuan
from storage.models import Ticket, Timer
from storage.repair_models import LoanerUnit, RepairJob, RepairQuote, SalesContract, TicketWarranty

# The repair paths as the console shows them.
_TIER_WORDS: dict[str, str] = {str(tier): label for tier, label in TIER_LABELS.items()}
PATH_LABELS: dict[str, str] = {"in_house": "在司维修", "factory": "返厂维修", "vendor": "原厂保修"}


async def warranty_of(session: AsyncSession, ticket_id: int) -> TicketWarranty | None:
    return await session.get(TicketWarranty, ticket_id)


async def current_quote(session: AsyncSession, ticket_id: int) -> RepairQuote | None:
    """The ticket's latest quote still standing (a newer one withdraws an unconfirmed one)."""
    return await session.scalar(
        select(RepairQuote)
        .where(RepairQuote.ticket_id == ticket_id, RepairQuote.withdrawn.is_(False))
        .order_by(RepairQuote.quoted_at.desc(), RepairQuote.id.desc())
        .limit(1)
    )


async def open_jobs(session: AsyncSession, ticket_id: int) -> list[RepairJob]:
    rows = await session.execute(
        select(RepairJob)
        .where(RepairJob.ticket_id == ticket_id, RepairJob.finished_at.is_(None))
        .order_by(RepairJob.started_at, RepairJob.id)
    )
    return list(rows.scalars())


async def loaner_out(session: AsyncSession, ticket_id: int) -> LoanerUnit | None:
    return await session.scalar(
        select(LoanerUnit)
        .where(LoanerUnit.ticket_id == ticket_id, LoanerUnit.returned_at.is_(None))
        .order_by(LoanerUnit.sent_at.desc())
        .limit(1)
    )


async def repair_hint(session: AsyncSession, ticket_id: int) -> str | None:
    """Why repair may not start yet, or None when it may."""
    warranty = await warranty_of(session, ticket_id)
    if warranty is None:
        return "须先判定保修（序列号、型号、签收日期、购买凭证）"
    if warranty.free:
        return None
    quote = await current_quote(session, ticket_id)
    if quote is None:
        return "有偿维修须先向客户报价，客户确认后才能开始维修"
    if quote.confirmed_at is None:
        return "已报价，等待客户确认后才能开始维修"
    return None


async def require_repair_allowed(ctx: ActionContext) -> None:
    """Refuse to start repair before the warranty decision and, when paid, the confirmation."""
    hint = await repair_hint(ctx.session, ctx.ticket.id)
    if hint is None:
        return
    warranty = await warranty_of(ctx.session, ctx.ticket.id)
    code = "warranty_not_assessed" if warranty is None else "quote_not_confirmed"
    raise TicketError("conflict", code, hint)


# -- progress updates and the vendor's time -----------------------------------------------


async def pause_progress(ctx: ActionContext) -> list[dict[str, Any]]:
    """Take the pending day-4 / day-7 timers off while the unit is at the vendor."""
    rows = await ctx.session.execute(
        select(Timer).where(
            Timer.ticket_id == ctx.ticket.id,
            Timer.kind == TimerKind.PROGRESS,
            Timer.status == timers.PENDING,
        )
    )
    paused = [{"due_at": as_aware(t.due_at).isoformat(), **t.payload} for t in rows.scalars()]
    await timers.cancel(ctx.session, ctx.ticket.id, (TimerKind.PROGRESS,))
    return paused


def working_days_away(calendar: WorkCalendar, left: datetime, back: datetime) -> int:
    """Working days in (day it left, day it came back]: what the updates do not count."""
    start = calendar.local_date(left)
    end = calendar.local_date(back)
    days, current = 0, start
    while current < end:
        current += timedelta(days=1)
        days += calendar.is_working_day(current)
    return days


def resume_progress(
    ctx: ActionContext, paused: list[dict[str, Any]], left: datetime
) -> list[dict[str, Any]]:
    """Put the paused updates back, later by the working days the unit was away."""
    calendar = ctx.desk.calendar
    away = working_days_away(calendar, left, ctx.now)
    resumed = []
    for entry in paused:
        due = datetime.fromisoformat(str(entry["due_at"])).astimezone(calendar.tz)
        day = calendar.add_working_days(due.date(), away) if away else due.date()
        new_due = max(datetime.combine(day, due.timetz()), ctx.now)
        payload = {k: v for k, v in entry.items() if k != "due_at"}
        timers.schedule(
            ctx.session, TimerKind.PROGRESS, new_due, ticket_id=ctx.ticket.id, payload=payload
        )
        resumed.append({**payload, "due_at": new_due.isoformat()})
    return resumed


async def progress_status(
    session: AsyncSession, ticket: Ticket, state: TicketState, policy: Policy
) -> str:
    """Where the ticket really stands, in the words of the progress update."""
    parts: list[str] = []
    jobs = await open_jobs(session, ticket.id)
    vendor = next((j for j in jobs if j.path == "vendor"), None)
    if state.rma_open:
        who = f"（{vendor.vendor}）" if vendor is not None and vendor.vendor else ""
        if vendor is not None and vendor.promised_on is not None:
            parts.append(
                f"故障配件已送原厂保修{who}，原厂承诺{cn_date(vendor.promised_on)}前返回，"
                "我们会按此时间持续跟催"
            )
        else:
            every = policy.sla.rma_chase_every_days
            parts.append(f"故障配件已送原厂保修{who}，我们每{every}天跟进催促一次原厂进度")
    for job in jobs:
        if job.path == "in_house" and job.due_on is not None:
            parts.append(f"设备正在我司维修，预计{cn_date(job.due_on)}前完成")
        elif job.path == "factory" and job.due_on is not None and job.latest_on is not None:
            parts.append(
                f"设备已返厂维修，预计{cn_date(job.due_on)}至{cn_date(job.latest_on)}之间修复返回"
            )
    quote = await current_quote(session, ticket.id)
    if not parts and quote is not None and quote.confirmed_at is None:
        parts.append(f"维修报价（合计{yuan(quote.amount_fen)}）已发送，等待您确认后开始维修")
    if not parts:
        parts.append(
            "解决方案已确定，工程师正在实施" if state.solution_given else "工程师正在排查处理中"
        )
    if await loaner_out(session, ticket.id) is not None:
        parts.append("备用机已在您处使用，故障机处理好后再为您换回")
    return "；".join(parts)


def repair_timer_due(calendar: WorkCalendar, day: date, opens: time | None) -> datetime:
    """The morning a repair limit ends (the reminder's time)."""
    return datetime.combine(day, opens or time(9, 0), calendar.tz)


# -- the view -----------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_aware(value).isoformat()
    return value.isoformat()


def _periods(policy: Policy, warranty: TicketWarranty) -> list[dict[str, Any]]:
    """The unit's periods from its sign-for date, the one that applies marked."""
    if warranty.signed_for is None:
        return []
    rules = policy.warranty
    return [
        {
            "tier": tier,
            "label": _TIER_WORDS[tier],
            "months": months,
            "last_day": period_last_day(warranty.signed_for, months).isoformat(),
            "applies": warranty.tier == tier,
        }
        for tier, months in (
            ("replace_new", rules.replace_new_months),
            ("replace_refurbished", rules.replace_refurbished_months),
            ("free_repair", rules.free_repair_months),
        )
    ]


async def aftercare_view(session: AsyncSession, ticket: Ticket, policy: Policy) -> dict[str, Any]:
    """The warranty facts and decision, contracts, quote, repair paths and loaned units."""
    warranty = await warranty_of(session, ticket.id)
    contracts = list(
        (
            await session.execute(
                select(SalesContract)
                .where(SalesContract.customer_id == ticket.customer_id)
                .order_by(SalesContract.signed_on, SalesContract.id)
            )
        ).scalars()
    )
    by_id = {c.id: c for c in contracts}
    quote = await current_quote(session, ticket.id)
    jobs = (
        await session.execute(
            select(RepairJob)
            .where(RepairJob.ticket_id == ticket.id)
            .order_by(RepairJob.started_at, RepairJob.id)
        )
    ).scalars()
    loaners = (
        await session.execute(
            select(LoanerUnit).where(LoanerUnit.ticket_id == ticket.id).order_by(LoanerUnit.sent_at)
        )
    ).scalars()
    warranty_view = None
    if warranty is not None:
        proof = (
            "message"
            if warranty.proof_message_id is not None
            else "reference"
            if warranty.proof_reference
            else None
        )
        contract = by_id.get(warranty.contract_id) if warranty.contract_id else None
        warranty_view = {
            "serial_no": warranty.serial_no,
            "model": warranty.model,
            "signed_for": _iso(warranty.signed_for),
            "proof": proof,
            "proof_message_id": warranty.proof_message_id,
            "proof_reference": warranty.proof_reference,
            "part": warranty.part,
            "contract": contract.number if contract else None,
            "tier": warranty.tier,
            "label": _TIER_WORDS.get(warranty.tier, warranty.tier),
            "free": warranty.free,
            "reason": warranty.reason,
            "covered_until": _iso(warranty.covered_until),
            "exclusions": list(warranty.exclusions or []),
            "periods": _periods(policy, warranty),
            "assessed_by": warranty.assessed_by,
            "assessed_at": _iso(warranty.assessed_at),
        }
    return {
        "warranty": warranty_view,
        "contracts": [
            {
                "number": c.number,
                "parts": list(c.parts or []),
                "signed_on": _iso(c.signed_on),
                "term_months": c.term_months,
                "covered_until": _iso(period_last_day(c.signed_on, c.term_months)),
            }
            for c in contracts
        ],
        "quote": None
        if quote is None
        else {
            "amount_fen": quote.amount_fen,
            "amount": yuan(quote.amount_fen),
            "items": list(quote.items or []),
            "quoted_by": quote.quoted_by,
            "quoted_at": _iso(quote.quoted_at),
            "confirmed": quote.confirmed_at is not None,
            "confirmed_at": _iso(quote.confirmed_at),
            "confirmed_by": quote.confirmed_by,
            "confirmation_source": quote.confirmation_source,
            "confirmation_message_id": quote.confirmation_message_id,
            "confirmation_note": quote.confirmation_note,
        },
        "repairs": [
            {
                "path": job.path,
                "label": PATH_LABELS.get(job.path, job.path),
                "vendor": job.vendor,
                "started_at": _iso(job.started_at),
                "due_on": _iso(job.due_on),
                "latest_on": _iso(job.latest_on),
                "promised_on": _iso(job.promised_on),
                "finished_at": _iso(job.finished_at),
                "old_parts": job.old_parts,
                "open": job.finished_at is None,
            }
            for job in jobs
        ],
        "loaners": [
            {
                "serial_no": unit.serial_no,
                "model": unit.model,
                "sent_at": _iso(unit.sent_at),
                "sent_by": unit.sent_by,
                "returned_at": _iso(unit.returned_at),
                "out": unit.returned_at is None,
            }
            for unit in loaners
        ],
        "repair_hint": await repair_hint(session, ticket.id),
        # What the next progress update would tell the customer.
        "progress": await progress_status(
            session, ticket, await state_of(session, ticket.id), policy
        ),
    }
