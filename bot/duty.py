"""On-call duty (seed 003 运维技术服务值班管理制度): the monthly rota and the hand-over.

“公司实行非上班时段，包括节假日实行技术人员轮流值班方式服务时段为早上8:00晚上19:00，每月
轮换一次。”  A manager puts one engineer on duty per month (`set_rota`); the ticket
routing (`bot.lifecycle.oncall`) reads that row.  `month_summary` is the month's duty
log: the tickets routed on call, the calls and visits recorded outside the working
day with their durations (a visit's time is overtime, 3.3.D), and the tickets still
open that the next engineer must follow (3.2.G 须继续跟踪处理，直至客户问题解决).  At
the month's end the engineer on duty hands it over (`submit_handover`, 3.2.F 值班技术员
在每月底提交值班记录表给予下一位轮值班的技术人员): the summary is kept as it stood.

Used by the duty API (`bot.duty_api`) and the console page (`bot.console.duty`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import validation
from compliance.calendar import SHANGHAI, as_aware
from storage.duty_models import ContactRecord, DutyHandover, DutyRota
from storage.models import Engineer, EngineerRole, EventKind, Ticket, TicketEvent, TicketStatus

# The managers' notifications about on-call work (`bot.lifecycle.oncall`, the contact action).
DUTY_ALERTS = ("duty_routed", "duty_rota_empty", "duty_visit")
MAX_NOTES = 2000


class DutyError(Exception):
    """A request the duty book refuses: `status` is its HTTP status, `field` what to fix."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"field": self.field} if self.field else {}


def parse_month(raw: object, *, field: str = "month") -> str:
    """``YYYY-MM`` checked (a 400 `DutyError` naming `field` otherwise)."""
    try:
        first = validation.parse_month(raw)
    except validation.Invalid:
        first = None
    if first is None or first.year < 2000:
        raise DutyError(
            400, "bad_field", f"field {field!r} must be a month such as 2026-12", field=field
        )
    return str(raw)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, Asia/Shanghai."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (
        datetime.combine(first, time(0), SHANGHAI),
        datetime.combine(following, time(0), SHANGHAI),
    )


def next_month(month: str) -> str:
    _start, end = month_bounds(month)
    return f"{end.year:04d}-{end.month:02d}"


def this_month(now: datetime) -> str:
    local = as_aware(now).astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def _person(engineer: Engineer | None) -> dict[str, str] | None:
    return {"staff_no": engineer.staff_no, "name": engineer.name} if engineer else None


@dataclass(frozen=True, slots=True)
class DutyBook:
    """The rota, the duty log and the hand-overs over one database."""

    sessionmaker: async_sessionmaker[AsyncSession]

    async def _engineer(self, session: AsyncSession, staff_no: object, field: str) -> Engineer:
        if not isinstance(staff_no, str) or not staff_no.strip():
            raise DutyError(400, "bad_field", f"field {field!r} is required (a 工号)", field=field)
        engineer = await session.scalar(
            select(Engineer).where(Engineer.staff_no == staff_no.strip())
        )
        if engineer is None:
            raise DutyError(400, "bad_field", f"工号 {staff_no} 不在花名册中", field=field)
        if EngineerRole.ENGINEER.value not in engineer.roles:
            raise DutyError(400, "bad_field", f"工号 {staff_no} 不是运维工程师", field=field)
        return engineer

    async def rota(self, first: str, months: int = 6) -> list[dict[str, Any]]:
        """`months` months from `first`, each with its engineer on duty (or None)."""
        wanted = [first]
        while len(wanted) < months:
            wanted.append(next_month(wanted[-1]))
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(DutyRota, Engineer)
                    .join(Engineer, DutyRota.engineer_id == Engineer.id)
                    .where(DutyRota.month.in_(wanted))
                )
            ).all()
        by_month = {row.month: (row, engineer) for row, engineer in rows}
        out = []
        for month in wanted:
            found = by_month.get(month)
            out.append(
                {
                    "month": month,
                    "engineer": _person(found[1]) if found else None,
                    "assigned_by": found[0].assigned_by if found else None,
                    "note": found[0].note if found else None,
                }
            )
        return out

    async def set_rota(
        self, month: object, staff_no: object, *, by: str, note: str | None = None
    ) -> dict[str, Any]:
        """Put the engineer `staff_no` on duty for `month` (replacing whoever was)."""
        month = parse_month(month)
        for _attempt in range(2):
            try:
                async with self.sessionmaker() as session, session.begin():
                    engineer = await self._engineer(session, staff_no, "staff_no")
                    row = await session.scalar(select(DutyRota).where(DutyRota.month == month))
                    if row is None:
                        session.add(
                            DutyRota(
                                month=month, engineer_id=engineer.id, assigned_by=by, note=note
                            )
                        )
                    else:
                        row.engineer_id = engineer.id
                        row.assigned_by = by
                        row.note = note
                break
            except IntegrityError:
                continue  # another manager set the month at the same moment: update theirs
        return {"month": month, "engineer": _person(engineer), "assigned_by": by, "note": note}

    async def month_summary(self, month: str) -> dict[str, Any]:
        """The month's duty log (see the module docstring)."""
        month = parse_month(month)
        start, end = month_bounds(month)
        async with self.sessionmaker() as session:
            on_duty = await session.scalar(
                select(Engineer)
                .join(DutyRota, DutyRota.engineer_id == Engineer.id)
                .where(DutyRota.month == month)
            )
            routed = (
                await session.execute(
                    select(TicketEvent, Ticket)
                    .join(Ticket, TicketEvent.ticket_id == Ticket.id)
                    .where(
                        TicketEvent.event == EventKind.ROUTED_ON_CALL,
                        TicketEvent.at >= start,
                        TicketEvent.at < end,
                    )
                    .order_by(TicketEvent.at, TicketEvent.id)
                )
            ).all()
            reminders = (
                await session.execute(
                    select(TicketEvent, Ticket.number)
                    .join(Ticket, TicketEvent.ticket_id == Ticket.id)
                    .where(
                        TicketEvent.event == EventKind.REMINDER_SENT,
                        TicketEvent.at >= start,
                        TicketEvent.at < end,
                    )
                    .order_by(TicketEvent.at, TicketEvent.id)
                )
            ).all()
            contacts = (
                await session.execute(
                    select(ContactRecord, Ticket.number, Engineer)
                    .join(Ticket, ContactRecord.ticket_id == Ticket.id)
                    .join(Engineer, ContactRecord.engineer_id == Engineer.id)
                    .where(
                        ContactRecord.on_duty.is_(True),
                        ContactRecord.at >= start,
                        ContactRecord.at < end,
                    )
                    .order_by(ContactRecord.at, ContactRecord.id)
                )
            ).all()
        tickets = [
            {
                "number": ticket.number,
                "routed_at": as_aware(event.at).astimezone(SHANGHAI).isoformat(),
                "why": (event.data or {}).get("why"),
                "status": ticket.status.value,
            }
            for event, ticket in routed
        ]
        records = [
            {
                "ticket": number,
                "kind": record.kind,
                "at": as_aware(record.at).astimezone(SHANGHAI).isoformat(),
                "duration_s": record.duration_s,
                "result": record.result,
                "engineer": _person(engineer),
            }
            for record, number, engineer in contacts
        ]
        alerts = [
            {
                "ticket": number,
                "ts": as_aware(event.at).astimezone(SHANGHAI).isoformat(),
                "to": (event.data or {}).get("to"),
                "reason": (event.data or {}).get("reason"),
            }
            for event, number in reminders
            if (event.data or {}).get("reason") in DUTY_ALERTS
        ]
        calls = [r for r in records if r["kind"] == "call"]
        visits = [r for r in records if r["kind"] == "visit"]
        follow = [
            t["number"]
            for t in tickets
            if t["status"] not in (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
        ]
        return {
            "month": month,
            "engineer": _person(on_duty),
            "tickets": tickets,
            "contacts": records,
            "calls": len(calls),
            "call_seconds": sum(r["duration_s"] for r in calls),
            "visits": len(visits),
            "visit_seconds": sum(r["duration_s"] for r in visits),
            "to_follow": sorted(set(follow)),
            "alerts": alerts,
        }

    async def handover(self, month: str) -> dict[str, Any] | None:
        """The month's hand-over, if it was submitted."""
        month = parse_month(month)
        async with self.sessionmaker() as session:
            row = await session.scalar(select(DutyHandover).where(DutyHandover.month == month))
            if row is None:
                return None
            giver = await session.get(Engineer, row.from_engineer_id)
            taker = await session.get(Engineer, row.to_engineer_id) if row.to_engineer_id else None
        return {
            "month": row.month,
            "from": _person(giver),
            "to": _person(taker),
            "submitted_by": row.submitted_by,
            "submitted_at": as_aware(row.submitted_at).astimezone(SHANGHAI).isoformat(),
            "notes": row.notes,
            "summary": row.summary,
        }

    async def submit_handover(
        self, month: object, notes: object, *, by: str, manager: bool, now: datetime
    ) -> dict[str, Any]:
        """Hand the month's duty log to next month's engineer on duty.

        Only the month's engineer on duty (or a manager) may; once per month (409)."""
        month = parse_month(month)
        if notes is not None and not isinstance(notes, str):
            raise DutyError(400, "bad_field", "field 'notes' must be text", field="notes")
        text = (notes or "").strip()
        if len(text) > MAX_NOTES:
            raise DutyError(
                400, "bad_field", f"field 'notes' is longer than {MAX_NOTES}", field="notes"
            )
        summary = await self.month_summary(month)
        giver = summary["engineer"]
        if giver is None:
            raise DutyError(409, "no_duty_engineer", f"{month} 没有排班的值班工程师")
        if by != giver["staff_no"] and not manager:
            raise DutyError(403, "not_on_duty", f"只有 {month} 的值班工程师或管理人员可以交接")
        following = (await self.rota(next_month(month), 1))[0]["engineer"]
        async with self.sessionmaker() as session:
            try:
                async with session.begin():
                    ids = {
                        e.staff_no: e.id
                        for e in (
                            await session.execute(
                                select(Engineer).where(
                                    Engineer.staff_no.in_(
                                        [giver["staff_no"]]
                                        + ([following["staff_no"]] if following else [])
                                    )
                                )
                            )
                        ).scalars()
                    }
                    session.add(
                        DutyHandover(
                            month=month,
                            from_engineer_id=ids[giver["staff_no"]],
                            to_engineer_id=ids[following["staff_no"]] if following else None,
                            submitted_by=by,
                            submitted_at=now,
                            notes=text,
                            summary=summary,
                        )
                    )
            except IntegrityError:
                raise DutyError(409, "handover_exists", f"{month} 的值班记录已交接") from None
        handed = await self.handover(month)
        assert handed is not None
        return handed
