"""Delivery: what a ticket owes before it is resolved, and the ticket page's delivery panel.

Seed 000 【售后交付标准】1: 24 h of stable running (72 h for an intermittent
fault) before delivery — unless a manager waives it with a reason, or the ticket's
fault level fixed no server (the policy's ``stable_run_exempt_levels``: 技术咨询).
【售后动作标准】1.b–c: a ticket with an on-site visit owes the 上门 list, one
repaired in house (or at the factory) the 在司 list (the 上门 list once the arrival is
recorded); with the policy's
``checklists_required`` resolving waits until each is ticked.  The return list
(accessories, packaging) comes before the return-shipping line.

- `resolve_blocker` — why the ticket may not be resolved now (None: it may).
- `stable_run_blocker` — the stable-run part of it alone (the return line needs it).
- `delivery_view` — the ticket page's 上门与交付 panel and the API's ``delivery``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.journal import TicketState
from compliance.calendar import as_aware
from compliance.delivery_policy import ChecklistItem
from compliance.policy import Policy
from storage.delivery_models import ChecklistTick, OnsiteVisit
from storage.models import Ticket
from storage.repair_models import RepairJob

CHECKLIST_TITLES: Mapping[str, str] = {
    "onsite": "上门检查项",
    "workshop": "在司检查项",
    "return": "归还前确认",
}
# The repair paths that bring the server to the company (the 在司 list applies).
_WORKSHOP_PATHS = ("in_house", "factory")


@dataclass(frozen=True, slots=True)
class Blocker:
    """Why a step cannot be done yet: a stable code and what the engineer reads."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


async def visit_of(session: AsyncSession, ticket_id: int) -> OnsiteVisit | None:
    return await session.get(OnsiteVisit, ticket_id)


async def ticks_of(session: AsyncSession, ticket_id: int) -> dict[str, set[str]]:
    """The ticked item codes of each checklist."""
    rows = await session.execute(
        select(ChecklistTick.checklist, ChecklistTick.item).where(
            ChecklistTick.ticket_id == ticket_id
        )
    )
    ticked: dict[str, set[str]] = {}
    for checklist, item in rows:
        ticked.setdefault(checklist, set()).add(item)
    return ticked


async def owed_checklists(session: AsyncSession, ticket_id: int) -> list[str]:
    """The lists this ticket owes before resolving: 上门 once the engineer was on site,
    在司 with a repair here (in house or through the factory)."""
    owed = []
    visit = await visit_of(session, ticket_id)
    if visit is not None and visit.arrived_at is not None:
        owed.append("onsite")
    workshop = await session.scalar(
        select(RepairJob.id)
        .where(RepairJob.ticket_id == ticket_id, RepairJob.path.in_(_WORKSHOP_PATHS))
        .limit(1)
    )
    if workshop is not None:
        owed.append("workshop")
    return owed


def missing(items: Sequence[ChecklistItem], ticked: set[str]) -> list[ChecklistItem]:
    return [item for item in items if item.code not in ticked]


def stable_run_exempt(policy: Policy, ticket: Ticket) -> bool:
    return ticket.fault_level in policy.delivery.stable_run_exempt_levels


def stable_run_blocker(
    policy: Policy, ticket: Ticket, state: TicketState, now: datetime
) -> Blocker | None:
    """Why delivery waits for the stable run, or None."""
    if state.stable_run_waived:
        return None
    until = state.stable_run_until
    if until is not None and now < until:
        return Blocker(
            "stable_run_pending",
            f"交付前须确认服务器稳定运行至 {until.isoformat()}",
            {"stable_until": until.isoformat()},
        )
    if (
        until is None
        and policy.delivery.stable_run_required
        and not stable_run_exempt(policy, ticket)
    ):
        sla = policy.sla
        return Blocker(
            "stable_run_required",
            f"交付前须确认服务器稳定运行至少{sla.stable_run_h}小时"
            f"（间歇性故障{sla.intermittent_stable_run_h}小时）：请先开始稳定运行观察，"
            "或由管理人员填写原因后免除",
        )
    return None


async def resolve_blocker(
    session: AsyncSession, policy: Policy, ticket: Ticket, state: TicketState, now: datetime
) -> Blocker | None:
    """Why the ticket may not be resolved now (the stable run, then the lists), or None."""
    blocker = stable_run_blocker(policy, ticket, state, now)
    if blocker is not None or not policy.delivery.checklists_required:
        return blocker
    ticked = await ticks_of(session, ticket.id)
    for name in await owed_checklists(session, ticket.id):
        left = missing(policy.delivery.checklist(name), ticked.get(name, set()))
        if left:
            return Blocker(
                "checklist_incomplete",
                f"结单前须完成{CHECKLIST_TITLES[name]}：" + "、".join(i.text for i in left),
                {"checklist": name, "missing": [i.code for i in left]},
            )
    return None


def _late_reminded(events: Sequence[Mapping[str, Any]], due_on: date) -> bool:
    """The end-of-day reminder for this date fired: nobody on site that day."""
    return any(
        e["event"] == "reminder_sent"
        and e["data"].get("reason") == "onsite_late"
        and e["data"].get("due_on") == due_on.isoformat()
        for e in events
    )


def _iso(value: datetime | None) -> str | None:
    return as_aware(value).isoformat() if value is not None else None


async def delivery_view(
    session: AsyncSession,
    ticket: Ticket,
    policy: Policy,
    state: TicketState,
    now: datetime,
    today: date,
    events: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The visit, the checklists as ticked, the stable run, the return shipment."""
    visit = await visit_of(session, ticket.id)
    ticked = await ticks_of(session, ticket.id)
    owed = await owed_checklists(session, ticket.id)
    checklists = []
    for name, title in CHECKLIST_TITLES.items():
        mine = ticked.get(name, set())
        items = policy.delivery.checklist(name)
        checklists.append(
            {
                "name": name,
                "title": title,
                "owed": name in owed,
                # Shown once it may be needed: a visit planned, a repair here, the return.
                "shown": name in owed
                or name == "return"
                or (name == "onsite" and visit is not None)
                or bool(mine),
                "required": (name in owed and policy.delivery.checklists_required)
                or (name == "return" and policy.delivery.return_checklist_required),
                "items": [
                    {"code": i.code, "text": i.text, "ticked": i.code in mine} for i in items
                ],
                "done": not missing(items, mine),
            }
        )
    waiver = next((e for e in reversed(events) if e["event"] == "stable_run_waived"), None)
    shipped = [e for e in events if e["event"] == "return_shipped"]
    stable = stable_run_blocker(policy, ticket, state, now)
    blocker = await resolve_blocker(session, policy, ticket, state, now)
    return {
        "visit": None
        if visit is None
        else {
            "distance_km": visit.distance_km,
            "working_days": visit.working_days,
            "due_on": visit.due_on.isoformat() if visit.due_on else None,
            "agreed": visit.agreed,
            "needs_date": visit.due_on is None,
            "reschedules": visit.reschedules,
            "arrived_at": _iso(visit.arrived_at),
            "arrived_by": visit.arrived_by,
            "late": visit.late,
            "overdue": visit.arrived_at is None
            and visit.due_on is not None
            and (today > visit.due_on or _late_reminded(events, visit.due_on)),
        },
        "checklists": checklists,
        "stable_run": {
            "required": policy.delivery.stable_run_required
            and not stable_run_exempt(policy, ticket),
            "until": _iso(state.stable_run_until),
            "elapsed": state.stable_run_until is not None and now >= state.stable_run_until,
            "waived": state.stable_run_waived,
            "waiver": None
            if waiver is None
            else {
                "by": waiver["actor"],
                "ts": waiver["ts"],
                "reason": waiver["data"].get("reason"),
            },
            "ready": stable is None,
            "hint": stable.message if stable else None,
        },
        "shipments": [
            {
                "ts": e["ts"],
                "by": e["actor"],
                "carrier": e["data"].get("carrier"),
                "tracking_no": e["data"].get("tracking_no"),
                "ship_date": e["data"].get("ship_date"),
            }
            for e in shipped
        ],
        "resolve_hint": blocker.message if blocker else None,
        "resolve_code": blocker.code if blocker else None,
    }
