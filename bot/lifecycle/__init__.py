"""The ticket lifecycle, channel-blind: every customer line in, every engineer action.

`TicketService` is the one door: channels call `receive` with each customer
message (`bot.lifecycle.intake`) and hand stored lines to `deliver`; the API
and the console call `run(action, …)` with an action of
`bot.lifecycle.registry.ACTIONS` and its parsed body, and read through `views`;
the scheduler fires `timer_handlers()` (`bot.lifecycle.deadlines`).  What lives
where:

- `desk` — what every step works with: policy, clocks, database, prompter;
- `vocabulary` — the steps (`EventKind`), `TimerKind`, status groups, actors;
- `journal` — recording steps, the 1 ms stamping, `TicketState`;
- `access` — `TicketError` and its HTTP status, loading a ticket, `acting`;
- `intake`, `outbox`, `privacy` — customer lines in, lines out, forgetting;
- `frontdesk` — what the customer is told (the out-of-hours notice, 查询工单), who they
  are (张总, one person across channels); `satisfaction` — the survey and its rating;
- `actions/` and `registry` — one module per family of engineer actions;
- `bodies` — the typed body of each action, for the API and the console forms;
- `aftercare` — warranty facts, quote, repair paths and loaned units: the rules the
  after-the-chat actions share, the paused progress updates, the ticket page's panel;
- `delivery` — what resolving waits for (the stable run, the 上门 / 在司 lists) and the
  ticket page's 上门与交付 panel;
- `deadlines`, `views`, `reminders` — the timers' handlers, the read-only views, the
  timers and reminders as people see them (ticket page, queue, manager, nav count).

Nothing outside this package imports its modules: the names below are the
lifecycle's whole interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timers
from bot.lifecycle.access import ERROR_STATUS, TicketError
from bot.lifecycle.actions import Action, ActionResult, run_action
from bot.lifecycle.actions.drafts import check_draft
from bot.lifecycle.actions.handover import ReassignBody
from bot.lifecycle.actions.solution import ExtensionBody
from bot.lifecycle.bodies import form_inputs, parse_body
from bot.lifecycle.deadlines import DeadlineHandlers
from bot.lifecycle.desk import Desk
from bot.lifecycle.frontdesk import person_ids
from bot.lifecycle.intake import Before, Receipt, receive
from bot.lifecycle.outbox import (
    SentLine,
    claim_lines,
    deliver,
    journal_line,
    record_delivery,
    replies_to,
)
from bot.lifecycle.privacy import (
    ERASED_TEXT,
    RETENTION_BATCH,
    Forgotten,
    find_customer,
    forget_in,
    mask_expired_in,
)
from bot.lifecycle.registry import ACTIONS, BY_NAME
from bot.lifecycle.views import TicketViews
from bot.lifecycle.vocabulary import ACTIVE, MANAGERS, SYSTEM_ACTOR, WORKING, EventKind, TimerKind
from bot.messages import DeliveryResult, InboundMessage, OutboundMessage
from bot.presend import PresendResult
from storage.models import DeliveryStatus, Engineer

__all__ = [
    "ACTIONS",
    "ACTIVE",
    "BY_NAME",
    "ERASED_TEXT",
    "ERROR_STATUS",
    "MANAGERS",
    "RETENTION_BATCH",
    "WORKING",
    "Action",
    "ActionResult",
    "Before",
    "Desk",
    "EventKind",
    "ExtensionBody",
    "Forgotten",
    "ReassignBody",
    "Receipt",
    "SentLine",
    "TicketError",
    "TicketService",
    "TicketViews",
    "TimerKind",
    "find_customer",
    "forget_in",
    "form_inputs",
    "mask_expired_in",
    "parse_body",
    "person_ids",
    "replies_to",
]


class TicketService:
    """Ticket lifecycle and prompting over one database; shared by all handlers."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.views = TicketViews(self.desk)

    @property
    def lock_rows(self) -> bool:
        """Whether rows are locked ``FOR UPDATE`` (PostgreSQL: several processes)."""
        return self.desk.lock_rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction (serialised per process on SQLite)."""
        async with self.desk.transaction() as session:
            yield session

    # -- customer lines ---------------------------------------------------------------

    async def receive(self, inbound: InboundMessage, *, before: Before | None = None) -> Receipt:
        """Store a customer message and react to it; a redelivery changes nothing.
        `before` writes the channel's own idempotency record in the same transaction."""
        return await receive(self.desk, inbound, before=before)

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        """Hand a stored line to its channel's sender and record what became of it."""
        return await deliver(self.desk, message)

    async def claim_lines(
        self,
        message_ids: Collection[int],
        *,
        claimable: Collection[DeliveryStatus],
        to: DeliveryStatus,
    ) -> set[int]:
        """Take lines for one hand-over (see `outbox.claim_lines`): the ids taken."""
        return await claim_lines(self.desk, message_ids, claimable=claimable, to=to)

    async def record_delivery(self, message_id: int, result: DeliveryResult) -> None:
        """Store a delivery outcome the channel learnt itself (a passive reply, a bridge)."""
        await record_delivery(self.desk, message_id, result)

    async def journal_line(
        self, message_id: int, kind: EventKind, actor: str, data: dict[str, Any]
    ) -> None:
        """Record a step about one stored line (the engineer sent it again, or settled it)."""
        await journal_line(self.desk, message_id, kind, actor, data)

    async def forget_customer(
        self,
        channel: str,
        customer_external_id: str,
        *,
        reason: str = "unsubscribe",
        actor: str = SYSTEM_ACTOR,
    ) -> Forgotten | None:
        """Erase a customer's personal data and close their open tickets (a WeChat
        unsubscribe, a deletion request); None when the customer is unknown."""
        async with self.desk.transaction() as session:
            customer = await find_customer(
                session, lock=self.lock_rows, channel=channel, external_id=customer_external_id
            )
            if customer is None:
                return None
            return await forget_in(session, customer, self.desk.now(), reason=reason, actor=actor)

    async def forget_ticket_customer(self, number: str, actor: str) -> Forgotten | None:
        """`forget_customer` for the customer of ticket `number` (an admin's action)."""
        async with self.desk.transaction() as session:
            customer = await find_customer(session, lock=self.lock_rows, ticket_number=number)
            if customer is None:
                return None
            if customer.anonymised_at is not None:
                raise TicketError(
                    "conflict", "already_forgotten", f"工单 {number} 的客户个人信息已删除"
                )
            return await forget_in(session, customer, self.desk.now(), reason="admin", actor=actor)

    async def mask_expired(self, retention_days: int) -> list[str]:
        """Mask the customer texts of closed tickets older than `retention_days` (the
        retention chore); the ticket numbers masked, all batches."""
        masked: list[str] = []
        while True:
            async with self.desk.transaction() as session:
                batch = await mask_expired_in(
                    session, self.desk.now(), retention_days, skip_locked=self.lock_rows
                )
            masked.extend(batch)
            if len(batch) < RETENTION_BATCH:
                return masked

    # -- engineer actions -------------------------------------------------------------

    async def run(self, name: str, number: str, staff_no: str, body: Any = None) -> ActionResult:
        """Run the registered action `name` on ticket `number` as `staff_no`.

        `body` is the action's body model (see `parse_body`); an action without
        options may leave it out.  A refusal is a `TicketError`.
        """
        action = BY_NAME[name]
        # A draft is checked with the exemplars QA marked since start-up.
        await self.desk.refresh_presend()
        return await run_action(
            self.desk, action, number, staff_no, action.body() if body is None else body
        )

    async def check_draft(self, number: str, text: str) -> PresendResult:
        """The pre-send verdict on a draft for this ticket, without sending (as-you-type)."""
        await self.desk.refresh_presend()
        return await check_draft(self.desk, number, text)

    async def find_staff(self, staff_no: str) -> Engineer | None:
        """The roster row of a 工号, or None."""
        async with self.desk.sessionmaker() as session:
            return await session.scalar(select(Engineer).where(Engineer.staff_no == staff_no))

    def timer_handlers(self) -> Mapping[str, timers.TimerHandler]:
        """The SLA timers' handlers, by `TimerKind`."""
        return DeadlineHandlers(self.desk).handlers()
