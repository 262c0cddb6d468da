"""How a ticket's deadlines read in the console: time left, soon, breached (red), done.

The deadlines themselves come from the lifecycle's timers (computed there in
attended time from the calendar); here they are turned into the three clocks
an engineer scans a queue for — accept, solution, next progress update — and
their words and colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select

from bot.context import Services
from bot.lifecycle import ACTIVE, TimerKind
from storage.models import Message, MessageRole, Ticket, TicketStatus, Timer

SlaState = Literal["ok", "soon", "breached", "done", "none"]

# A deadline within this many seconds is shown amber: act now.
SOON_S = 15 * 60


def human_duration(seconds: float) -> str:
    """A duration the way a Chinese reader says it: ``2天3小时``, ``1小时5分``, ``45秒``."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分" if minutes else f"{hours}小时"
    if minutes:
        return f"{minutes}分{secs}秒" if secs and minutes < 5 else f"{minutes}分钟"
    return f"{secs}秒"


@dataclass(frozen=True, slots=True)
class SlaBadge:
    """One deadline of a ticket as shown in the queue and on the ticket page."""

    label: str
    state: SlaState
    text: str
    deadline: datetime | None = None

    @property
    def breached(self) -> bool:
        return self.state == "breached"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "label": self.label,
            "state": self.state,
            "text": self.text,
            "deadline": self.deadline.isoformat() if self.deadline else None,
        }


def countdown(
    label: str,
    deadline: datetime | None,
    now: datetime,
    *,
    done: bool = False,
    done_text: str = "已完成",
    soon_s: int = SOON_S,
) -> SlaBadge:
    """The badge of one deadline at `now`: done, none, time left, or how late it is."""
    if done:
        return SlaBadge(label, "done", done_text, deadline)
    if deadline is None:
        return SlaBadge(label, "none", "—", None)
    left = (deadline - now).total_seconds()
    if left < 0:
        return SlaBadge(label, "breached", f"已超时 {human_duration(left)}", deadline)
    state: SlaState = "soon" if left <= soon_s else "ok"
    return SlaBadge(label, state, f"剩余 {human_duration(left)}", deadline)


# A ticket whose progress updates are still owed: not yet resolved or closed.
_STILL_OPEN = frozenset(s.value for s in ACTIVE if s is not TicketStatus.RESOLVED)
# The timers behind the three clocks.
CLOCK_TIMERS = (
    TimerKind.ACCEPT_ENGINEER,
    TimerKind.SOLUTION_DUE,
    TimerKind.EXTENSION_DUE,
    TimerKind.PROGRESS,
)


# -- SLA state ----------------------------------------------------------------------------


def _aware(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def sla_badges(
    ticket: Mapping[str, Any],
    timers: Sequence[tuple[str, datetime, str]],
    now: datetime,
    last_agent_at: datetime | None,
) -> list[SlaBadge]:
    """The three clocks an engineer watches: accept, solution, next progress update.

    `timers` are the ticket's (kind, due_at, status) rows of every status, so a
    deadline whose reminder already fired still shows — as breached.
    """
    times = ticket.get("times", {})
    status = ticket.get("status")
    by_kind: dict[str, list[tuple[datetime, str]]] = {}
    for kind, due_at, timer_status in timers:
        by_kind.setdefault(kind, []).append((due_at, timer_status))
    for rows in by_kind.values():
        rows.sort()

    accept_due = by_kind.get(TimerKind.ACCEPT_ENGINEER, [(None, "")])[0][0]
    accepted_at = _aware(times.get("accepted_at"))
    if accepted_at is not None:
        late = accept_due is not None and accepted_at > accept_due
        accept = countdown(
            "受理", accept_due, now, done=True, done_text="受理超时" if late else "已受理"
        )
    else:
        accept = countdown("受理", accept_due, now, done=status != TicketStatus.OPENED)

    solution_rows = (
        by_kind.get(TimerKind.EXTENSION_DUE) or by_kind.get(TimerKind.SOLUTION_DUE) or []
    )
    solution_due = solution_rows[-1][0] if solution_rows else None
    if times.get("solution_given_at"):
        solution = countdown("方案", solution_due, now, done=True, done_text="已给方案")
    elif times.get("escalated_at"):
        solution = countdown("方案", solution_due, now, done=True, done_text="已升级技术部")
    elif accepted_at is None:
        solution = SlaBadge("方案", "none", "受理后计时")
    else:
        solution = countdown("方案", solution_due, now)

    progress_rows = by_kind.get(TimerKind.PROGRESS, [])
    active = status in _STILL_OPEN
    progress = countdown("进度更新", None, now)
    if active:
        missed = [
            due
            for due, timer_status in progress_rows
            if timer_status != "pending"
            and due <= now
            and (last_agent_at is None or last_agent_at < due)
        ]
        upcoming = [due for due, timer_status in progress_rows if timer_status == "pending"]
        if missed:
            progress = countdown("进度更新", missed[-1], now)
        elif upcoming:
            progress = countdown("进度更新", upcoming[0], now)
    else:
        progress = countdown("进度更新", None, now, done=True, done_text="无需")
    return [accept, solution, progress]


async def clock_rows(
    services: Services, numbers: Sequence[str]
) -> tuple[dict[str, list[tuple[str, datetime, str]]], dict[str, datetime]]:
    """Timers (every status) and the last agent line time of each ticket number."""
    timers: dict[str, list[tuple[str, datetime, str]]] = {n: [] for n in numbers}
    last_agent: dict[str, datetime] = {}
    if not numbers:
        return timers, last_agent
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(Ticket.number, Timer.kind, Timer.due_at, Timer.status)
            .join(Ticket, Timer.ticket_id == Ticket.id)
            .where(
                Ticket.number.in_(numbers),
                Timer.kind.in_(
                    (
                        TimerKind.ACCEPT_ENGINEER,
                        TimerKind.SOLUTION_DUE,
                        TimerKind.EXTENSION_DUE,
                        TimerKind.PROGRESS,
                    )
                ),
            )
        )
        for number, kind, due_at, status in rows:
            timers[number].append((kind, due_at, str(getattr(status, "value", status))))
        agent_rows = await db.execute(
            select(Ticket.number, func.max(Message.sent_at))
            .join(Ticket, Message.ticket_id == Ticket.id)
            .where(Ticket.number.in_(numbers), Message.role == MessageRole.AGENT)
            .group_by(Ticket.number)
        )
        for number, at in agent_rows:
            if at is not None:
                last_agent[number] = at
    return timers, last_agent


def with_countdowns(items: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Timer rows (`bot.lifecycle` views) with the badge state and text of the pending ones."""
    out = []
    for item in items:
        row = dict(item)
        if row.get("pending"):
            badge = countdown(str(row["label"]), _aware(row.get("due_at")), now)
            row["state"], row["text"] = badge.state, badge.text
        else:
            row["state"], row["text"] = "done", "已到期"
        out.append(row)
    return out
