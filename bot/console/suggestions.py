"""Customer suggestions per engineer and month, with their performance points.

Seed 000 【售后动作标准】2 协商执行动作 1②: 工程师收集1条真实建议并记录在案则个人绩效
增加0.1分.  A suggestion is the customer's answer recorded as
``suggestion_recorded`` after the engineer asked (``suggestion_requested``); it
counts for the engineer who asked, or — when the request was not recorded
with a 工号 — the engineer the ticket is assigned to.  The month is the
Asia/Shanghai calendar month the suggestion was recorded in; the points per
suggestion are the policy's ``[scoring] suggestion_points``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from compliance.calendar import SHANGHAI
from storage.models import Engineer, EventKind, Ticket, TicketEvent


@dataclass(slots=True)
class SuggestionMonth:
    """One engineer's recorded suggestions in one month."""

    staff_no: str
    name: str
    suggestions: list[dict[str, str]] = field(default_factory=list)
    per_suggestion: Decimal = Decimal("0.1")

    @property
    def count(self) -> int:
        return len(self.suggestions)

    @property
    def points(self) -> Decimal:
        return self.per_suggestion * self.count


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time(0), SHANGHAI)
    end = datetime.combine(last + timedelta(days=1), time(0), SHANGHAI)
    return start, end


async def suggestion_months(
    session: AsyncSession, first: date, last: date, points: float
) -> list[SuggestionMonth]:
    """Every roster engineer's suggestions recorded between `first` and `last` (local days)."""
    start, end = _bounds(first, last)
    recorded = (
        await session.execute(
            select(TicketEvent, Ticket.number, Ticket.assigned_engineer_id)
            .join(Ticket, TicketEvent.ticket_id == Ticket.id)
            .where(
                TicketEvent.event == EventKind.SUGGESTION_RECORDED,
                TicketEvent.at >= start,
                TicketEvent.at < end,
            )
            .order_by(TicketEvent.at, TicketEvent.id)
        )
    ).all()
    roster = list((await session.execute(select(Engineer).order_by(Engineer.staff_no))).scalars())
    by_id = {e.id: e for e in roster}
    per = Decimal(str(points))
    months = {
        e.staff_no: SuggestionMonth(e.staff_no, e.name, per_suggestion=per)
        for e in roster
        if "engineer" in e.roles
    }
    for event, number, assigned in recorded:
        asked = await session.scalar(
            select(TicketEvent.actor)
            .where(
                TicketEvent.ticket_id == event.ticket_id,
                TicketEvent.event == EventKind.SUGGESTION_REQUESTED,
                TicketEvent.at <= event.at,
            )
            .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
            .limit(1)
        )
        engineer = next((e for e in roster if e.staff_no == asked), None)
        if engineer is None and assigned is not None:
            engineer = by_id.get(assigned)
        if engineer is None:
            continue
        month = months.setdefault(
            engineer.staff_no, SuggestionMonth(engineer.staff_no, engineer.name, per_suggestion=per)
        )
        text = str((event.data or {}).get("suggestion") or "")
        month.suggestions.append({"ticket": number, "text": text, "at": event.at.isoformat()})
    return sorted(months.values(), key=lambda m: (-m.count, m.staff_no))
