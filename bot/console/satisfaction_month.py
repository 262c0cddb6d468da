"""The satisfaction loop in the month's figures, per engineer (issue 17.1; seed 003
评分等级 “每月统计一次公布统计结果”).

From the journal, for the tickets of the engineer they are assigned to: surveys sent,
ratings by label (those that came after the ticket closed counted apart: they joined
the closed ticket), the reasons named after 一般 / 不满意 (seed 003's form: 服务态度 /
技术水平 / 响应速度), and the review invitations after a good rating.  The month is the
Asia/Shanghai calendar month the step was recorded in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from compliance.calendar import SHANGHAI
from storage.models import Engineer, EventKind, Ticket, TicketEvent

_KINDS = (
    EventKind.SURVEY_SENT,
    EventKind.SATISFACTION_RATED,
    EventKind.SATISFACTION_REASON,
    EventKind.REVIEW_INVITED,
)


@dataclass(slots=True)
class SatisfactionMonth:
    """One engineer's satisfaction loop in one month."""

    staff_no: str
    name: str
    surveys: int = 0
    ratings: Counter[str] = field(default_factory=Counter)
    after_close: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    reviews_invited: int = 0

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def unanswered(self) -> int:
        """Surveys sent and not (yet) answered."""
        return max(0, self.surveys - self.rated)


async def satisfaction_months(
    session: AsyncSession, first: date, last: date, labels: tuple[str, ...]
) -> list[SatisfactionMonth]:
    """Every roster engineer's loop between `first` and `last` (local days), by 工号."""
    start = datetime.combine(first, time(0), SHANGHAI)
    end = datetime.combine(last + timedelta(days=1), time(0), SHANGHAI)
    rows = (
        await session.execute(
            select(TicketEvent.event, TicketEvent.data, Ticket.assigned_engineer_id)
            .join(Ticket, TicketEvent.ticket_id == Ticket.id)
            .where(TicketEvent.event.in_(_KINDS), TicketEvent.at >= start, TicketEvent.at < end)
        )
    ).all()
    roster = list((await session.execute(select(Engineer).order_by(Engineer.staff_no))).scalars())
    months = {e.id: SatisfactionMonth(e.staff_no, e.name) for e in roster if "engineer" in e.roles}
    for kind, data, engineer_id in rows:
        month = months.get(engineer_id)
        if month is None:
            continue
        data = data or {}
        if kind is EventKind.SURVEY_SENT:
            month.surveys += 1
        elif kind is EventKind.SATISFACTION_RATED and data.get("rating") in labels:
            month.ratings[str(data["rating"])] += 1
            month.after_close += bool(data.get("after_close"))
        elif kind is EventKind.SATISFACTION_REASON:
            month.reasons.update(str(r) for r in data.get("reasons") or ["其他意见"])
        elif kind is EventKind.REVIEW_INVITED:
            month.reviews_invited += 1
    return sorted(months.values(), key=lambda m: m.staff_no)
