"""Engineer actions: the contract every step module keeps, and how one runs.

An action is one `Action` value in its family's module (accept, drafts,
remote, solution, closing, handover, warranty, contract, quote, repair, rma,
loaner, onsite, delivery), listed once in
`bot.lifecycle.registry.ACTIONS`: its name (the URL segment under
``/api/tickets/{n}/`` and ``/console/api/tickets/{n}/``), the words the console
shows, the statuses it is allowed in, the roles that may run it, its body
model, the steps it may record and the coroutine that does it.

`run_action` opens the transaction through `bot.lifecycle.access.acting` (which
checks ticket, actor, assignment, status and roles), runs the action with its
`ActionContext`, commits, and only then delivers the lines the action stored.
An action refuses with a `TicketError`; one raised with ``commit=True`` keeps
what was done before it (and delivers its lines: the backup warning that a
remote request sends first), the others roll everything back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bot.lifecycle.access import ActionContext, TicketError, acting
from bot.lifecycle.desk import Desk
from bot.lifecycle.outbox import SentLine, deliver_all
from bot.lifecycle.vocabulary import EngineerRole, EventKind, TicketStatus
from bot.presend import PresendResult

B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: the steps it recorded and what it tells the engineer."""

    events: tuple[EventKind, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    presend: PresendResult | None = None


@dataclass(frozen=True, slots=True)
class Action(Generic[B]):
    """One engineer action, registered once (see the module docstring)."""

    name: str
    # The console's button, and the verb of its refusals ("不能受理").
    title: str
    verb: str
    statuses: tuple[TicketStatus, ...]
    roles: frozenset[EngineerRole]
    body: type[B]
    # Every step the action may record (the meta-test checks each is labelled).
    records: tuple[EventKind, ...]
    run: Callable[[ActionContext, B], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of an engineer action: lines sent and events recorded."""

    ticket_number: str
    sent: tuple[SentLine, ...] = ()
    events: tuple[str, ...] = ()
    presend: PresendResult | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticket": self.ticket_number,
            "sent": [line.to_dict() for line in self.sent],
            "events": list(self.events),
        }
        if self.presend is not None:
            out["presend"] = self.presend.to_dict()
        out.update(self.data)
        return out


async def run_action(
    desk: Desk, action: Action[B], number: str, staff_no: str, body: B
) -> ActionResult:
    """Run `action` on ticket `number` as `staff_no`; a refusal is a `TicketError`."""
    if not isinstance(body, action.body):
        raise TypeError(f"{action.name}: body must be {action.body.__name__}")
    refusal: TicketError | None = None
    async with acting(
        desk, number, staff_no, statuses=action.statuses, roles=action.roles, verb=action.verb
    ) as ctx:
        try:
            outcome = await action.run(ctx, body)
        except TicketError as exc:
            if not exc.commit:
                raise
            refusal = exc
        number = ctx.ticket.number
    sent = await deliver_all(desk, ctx.outbox)
    if refusal is not None:
        refusal.details["sent"] = [line.to_dict() for line in sent]
        raise refusal
    return ActionResult(
        number, sent, tuple(e.value for e in outcome.events), outcome.presend, outcome.data
    )
