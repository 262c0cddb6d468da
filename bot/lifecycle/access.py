"""Who may do what to which ticket, and the one way a step gets hold of a ticket.

`load_ticket` is the only path from a ticket number or id to its row: locked
``FOR UPDATE`` on PostgreSQL when the step writes, with the journal's stamp
seeded so what it records comes after what the ticket has.  `acting` opens an
action's transaction and hands the action an `ActionContext` once the checks
pass: the ticket exists (404), the actor is on the roster (403), works this
ticket — its assigned engineer, or a manager on any ticket (403) —, the
ticket's status allows the action (409), and the actor holds one of the
action's roles (`EngineerRole`, 403).  A refusal is a `TicketError`, whose
kind maps to one HTTP status (`ERROR_STATUS`) wherever it is answered.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.desk import Desk
from bot.lifecycle.journal import TicketState, record, seed_stamp, state_of
from bot.lifecycle.outbox import store_line
from bot.lifecycle.vocabulary import ACCEPTED, BOT_ACTOR, IN_PROGRESS, EngineerRole, EventKind
from bot.messages import OutboundMessage
from bot.prompting import PromptedLine, customer_address
from scripts_library import STATUS_LABELS
from storage.models import Customer, Engineer, Ticket, TicketStatus

# The roles as the Chinese UI names them.
ROLE_LABELS: Mapping[str, str] = {
    "engineer": "运维工程师",
    "qa": "质检",
    "manager": "管理人员",
    "admin": "管理员",
}

ErrorKind = Literal["not_found", "forbidden", "conflict", "refused", "confirm", "invalid"]

# What each refusal is in HTTP, for the API and the console alike.
ERROR_STATUS: Mapping[ErrorKind, int] = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "confirm": 409,
    "refused": 422,
}


class TicketError(Exception):
    """A step that cannot be done now: `kind` says why, `code` is stable for clients.

    With `commit` the work the step did before refusing is kept (the backup
    warning a remote request sent first) and its lines are delivered.
    """

    def __init__(
        self, kind: ErrorKind, code: str, message: str, *, commit: bool = False, **details: Any
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.commit = commit
        self.details = details

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.kind]


@dataclass(frozen=True, slots=True)
class LoadedTicket:
    """A ticket with its customer and its assigned engineer (None: unassigned)."""

    ticket: Ticket
    customer: Customer
    engineer: Engineer | None

    @property
    def address(self) -> str:
        """How the lines address the customer (张总, or 您)."""
        return customer_address(self.customer.surname, self.customer.title)


async def load_ticket(
    desk: Desk,
    session: AsyncSession,
    *,
    number: str | None = None,
    ticket_id: int | None = None,
    for_update: bool = True,
) -> LoadedTicket:
    """The ticket by number or id, its customer and its engineer; ``not_found`` if unknown.

    `for_update`: the caller writes — the row is locked on PostgreSQL and this
    transaction's stamps start after the ticket's last line and event.
    """
    if (number is None) == (ticket_id is None):
        raise TypeError("load_ticket needs a number or a ticket id")
    query = select(Ticket).where(
        Ticket.number == number if number is not None else Ticket.id == ticket_id
    )
    if for_update and desk.lock_rows:
        query = query.with_for_update()
    ticket = (await session.execute(query)).scalar_one_or_none()
    if ticket is None:
        raise TicketError("not_found", "no_such_ticket", f"工单 {number or ticket_id} 不存在")
    if for_update:
        await seed_stamp(session, ticket.id)
    customer = await session.get(Customer, ticket.customer_id)
    assert customer is not None
    engineer = (
        await session.get(Engineer, ticket.assigned_engineer_id)
        if ticket.assigned_engineer_id is not None
        else None
    )
    return LoadedTicket(ticket, customer, engineer)


async def staff_member(session: AsyncSession, staff_no: str) -> Engineer:
    engineer = await session.scalar(select(Engineer).where(Engineer.staff_no == staff_no))
    if engineer is None:
        raise TicketError("forbidden", "unknown_staff", f"工号 {staff_no} 不在花名册中")
    return engineer


def has_role(person: Engineer, role: EngineerRole) -> bool:
    return role.value in person.roles


async def roster_managers(session: AsyncSession) -> list[Engineer]:
    """Everyone on the roster with the manager role, by 工号."""
    rows = (await session.execute(select(Engineer).order_by(Engineer.staff_no))).scalars()
    return [e for e in rows if has_role(e, EngineerRole.MANAGER)]


def require_worker(ticket: Ticket, actor: Engineer) -> None:
    """The assigned engineer works the ticket; a manager may act on any."""
    if has_role(actor, EngineerRole.MANAGER) or ticket.assigned_engineer_id == actor.id:
        return
    raise TicketError(
        "forbidden", "not_assigned", f"工单 {ticket.number} 未分配给工号 {actor.staff_no}"
    )


def require_status(ticket: Ticket, allowed: Iterable[TicketStatus], verb: str) -> None:
    allowed = tuple(allowed)
    if ticket.status not in allowed:
        raise TicketError(
            "conflict",
            "wrong_status",
            f"工单 {ticket.number} 当前状态为{STATUS_LABELS.get(ticket.status.value, '')}"
            f"，不能{verb}",
            ticket_status=ticket.status.value,
            allowed=[s.value for s in allowed],
        )


def require_role(actor: Engineer, roles: Collection[EngineerRole], verb: str) -> None:
    if any(has_role(actor, role) for role in roles):
        return
    if roles == {EngineerRole.MANAGER}:
        raise TicketError("forbidden", "manager_required", f"{verb}须由管理人员操作")
    names = "、".join(ROLE_LABELS.get(role.value, role.value) for role in sorted(roles))
    raise TicketError("forbidden", "role_required", f"{verb}须由以下角色操作：{names}")


@dataclass(slots=True)
class ActionContext:
    """One action's hold on its ticket: the transaction, who acts, and what it says."""

    desk: Desk
    session: AsyncSession
    ticket: Ticket
    customer: Customer
    engineer: Engineer | None
    actor: Engineer
    now: datetime
    # Lines stored in this transaction, delivered once it has committed.
    outbox: list[OutboundMessage] = field(default_factory=list)

    @property
    def address(self) -> str:
        """How the lines address the customer (张总, or 您)."""
        return customer_address(self.customer.surname, self.customer.title)

    @property
    def speaker(self) -> Engineer:
        """Whom the bot's lines speak for: the assigned engineer, else the actor."""
        return self.engineer or self.actor

    def record(
        self, kind: EventKind, *, data: Mapping[str, Any] | None = None, actor: str | None = None
    ) -> None:
        """Record a step now, by the actor unless another `actor` is named."""
        record(
            self.session, self.ticket, kind, self.now, actor=actor or self.actor.staff_no, data=data
        )

    async def state(self) -> TicketState:
        return await state_of(self.session, self.ticket.id)

    async def say(
        self,
        line: PromptedLine,
        *,
        speaker: Engineer | None = None,
        override_reason: str | None = None,
    ) -> OutboundMessage:
        """Store `line` for the customer (sent after the commit), for `speaker` or the engineer."""
        outbound = await store_line(
            self.session,
            self.ticket,
            speaker or self.speaker,
            line,
            self.now,
            override_reason=override_reason,
        )
        self.outbox.append(outbound)
        return outbound

    def suggest_draft(self, line: PromptedLine, *, reason: str, **extra: Any) -> None:
        """Offer `line` to the engineer as a draft (shown until a line like it is sent)."""
        suggest_draft(self.session, self.ticket, line, self.now, reason=reason, **extra)

    def start_working(self) -> None:
        """An accepted ticket someone acts on is in progress."""
        if self.ticket.status is ACCEPTED:
            self.ticket.status = IN_PROGRESS


def suggest_draft(
    session: AsyncSession,
    ticket: Ticket,
    line: PromptedLine,
    at: datetime,
    *,
    reason: str,
    **extra: Any,
) -> None:
    """Offer `line` to the engineer as a draft (the API shows it until sent)."""
    record(
        session,
        ticket,
        EventKind.DRAFT_SUGGESTED,
        at,
        actor=BOT_ACTOR,
        data={**line.to_dict(), "reason": reason, **extra},
    )


@contextlib.asynccontextmanager
async def acting(
    desk: Desk,
    number: str,
    staff_no: str,
    *,
    statuses: Iterable[TicketStatus],
    roles: Collection[EngineerRole],
    verb: str,
) -> AsyncIterator[ActionContext]:
    """A transaction on a ticket `staff_no` may act on now (see the module docstring)."""
    async with desk.transaction() as session:
        loaded = await load_ticket(desk, session, number=number)
        actor = await staff_member(session, staff_no)
        require_worker(loaded.ticket, actor)
        require_status(loaded.ticket, statuses, verb)
        require_role(actor, roles, verb)
        yield ActionContext(
            desk,
            session,
            loaded.ticket,
            loaded.customer,
            loaded.engineer,
            actor,
            desk.now(),
        )
