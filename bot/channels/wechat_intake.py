"""The 公众号's intake: stored before it is answered, answered within the reply budget.

WeChat waits 5 s for the webhook's answer, then retries, and after three
retries tells the customer the account is unavailable.  The ticket work a
message causes (the ticket, the assignment, the greeting) usually takes
milliseconds, but a loaded database can make it take seconds.  So:

1. the core's `receive` runs; when it is done within the budget
   (`AFTERSALES_WECHAT_REPLY_BUDGET_S`, 2 s) the message is stored and its
   lines go back as the passive reply, as before;
2. when it is not, the message goes into the intake journal
   (`storage.channel_models.InboxMessage`), committed, and only then is
   ``success`` answered — "stored before acknowledged"; the work goes on in
   the background and its lines go out through `message/custom/send` when
   ready (they then count in the 48 h window's five messages, which a
   passive reply does not).  On SQLite, whose single writer would make that
   late entry wait behind the late work itself, every message is journalled
   first instead.

A redelivery of a message still being worked on here waits for that work
rather than starting it twice.  If the process stops between the answer and
the end of the work, `IntakeSweep` (every 30 s, and at start) finds journal
entries whose message is not stored, or whose answering lines were never
handed over, and finishes them; entries are kept 3 days.  The core's
(channel, external_id) constraint keeps every message stored once either way.

On SQLite every write of the process is serialised, so the journal entry of a
message arriving while another message's slow transaction holds the database
waits for it: the budget then holds for each message's own work, not for the
single writer.  On PostgreSQL the journal is written beside the ticket work,
and only for the messages that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.wechat_config import CHANNEL
from bot.context import Services
from bot.lifecycle import Receipt
from bot.lifecycle import replies_to as stored_replies
from bot.messages import InboundMessage, OutboundMessage
from storage.channel_models import InboxMessage
from storage.models import DeliveryStatus

log = logging.getLogger("bot.channels.wechat")

# A journal entry this old and unfinished was left by a process that stopped.
STALE_AFTER = timedelta(seconds=60)
KEEP_FOR = timedelta(days=3)


def _payload(inbound: InboundMessage) -> dict[str, Any]:
    return {
        "kind": inbound.kind,
        "text": inbound.text,
        "display_name": inbound.display_name,
        "media_url": inbound.media_url,
        "raw": dict(inbound.raw),
    }


def _inbound(row: InboxMessage) -> InboundMessage:
    payload = row.payload or {}
    return InboundMessage(
        channel=row.channel,
        customer_id=row.customer_id,
        external_id=row.external_id,
        sent_at=row.received_at,
        kind=payload.get("kind", "text"),
        text=str(payload.get("text", "")),
        display_name=payload.get("display_name"),
        media_url=payload.get("media_url"),
        raw=payload.get("raw") or {},
    )


@dataclass
class WeChatIntake:
    """Journal, process within the budget, finish in the background (see the module)."""

    services: Services
    budget_s: float
    _working: dict[str, asyncio.Task[Receipt]] = field(default_factory=dict)
    _late: set[asyncio.Task[None]] = field(default_factory=set)

    async def accept(self, inbound: InboundMessage) -> Receipt | None:
        """Process `inbound`: the core's receipt, or None when the budget ran out first
        (the work goes on; its lines follow by custom/send).  Nothing is answered
        before the message is stored — by the core, or in the journal."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget_s
        journal = loop.create_task(self._journal(inbound)) if self._journal_first else None
        task = self._working.get(inbound.external_id)
        first = task is None
        if task is None:
            task = loop.create_task(self.services.tickets.receive(inbound))
            self._working[inbound.external_id] = task
            task.add_done_callback(lambda _t: self._working.pop(inbound.external_id, None))
        if journal is not None:
            await journal
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if done:
            return task.result()
        if journal is None:
            await self._journal(inbound)
        if first:
            log.warning(
                "wechat message %s not processed within the %gs budget: answered success, "
                "its reply follows by custom/send",
                inbound.external_id,
                self.budget_s,
            )
            self._finish_later(task)
        return None

    @property
    def _journal_first(self) -> bool:
        # SQLite has one writer: an entry written when the budget runs out would
        # wait behind the very transaction that ran late, so it is written before
        # the work (the process's writes queue in order).  PostgreSQL writes it
        # beside the late work, at the budget, and the fast path pays nothing.
        return self.services.engine.dialect.name == "sqlite"

    async def _journal(self, inbound: InboundMessage) -> None:
        """Commit the journal entry (a redelivery finds the first one there)."""
        row = {
            "channel": inbound.channel,
            "external_id": inbound.external_id,
            "customer_id": inbound.customer_id,
            "payload": _payload(inbound),
            "received_at": self.services.now(),
        }
        with contextlib.suppress(IntegrityError):
            async with self.services.tickets.transaction() as session:
                await session.execute(insert(InboxMessage), [row])

    def _finish_later(self, task: asyncio.Task[Receipt]) -> None:
        late = asyncio.get_running_loop().create_task(self._deliver_when_done(task))
        self._late.add(late)
        late.add_done_callback(self._late.discard)

    async def _deliver_when_done(self, task: asyncio.Task[Receipt]) -> None:
        try:
            receipt = await task
        except Exception:  # the sweep replays the journal entry
            log.exception("wechat message processing failed after the answer; the sweep retries")
            return
        await deliver_all(self.services, receipt.replies)

    def working_on(self, external_id: str) -> bool:
        return external_id in self._working

    async def settle(self, wait_s: float = 5.0) -> set[asyncio.Task[Any]]:
        """Wait up to `wait_s` for the work in progress here; the tasks still running."""
        pending = [*self._working.values(), *self._late]
        if not pending:
            return set()
        _, unfinished = await asyncio.wait(pending, timeout=wait_s)
        return unfinished

    async def close(self, wait_s: float = 5.0) -> None:
        """Let work in progress finish (what does not is replayed from the journal)."""
        unfinished = await self.settle(wait_s)
        for task in unfinished:
            task.cancel()
        for task in unfinished:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def deliver_all(services: Services, lines: Sequence[OutboundMessage]) -> None:
    """Hand lines that missed the passive reply to the channel (custom/send).

    Each line is taken first (pending → unknown, "handed over, outcome not yet
    known"): one a redelivery's passive reply took meanwhile is not sent again.
    """
    taken = await services.tickets.claim_lines(
        [line.message_id for line in lines if line.message_id is not None],
        claimable=frozenset({DeliveryStatus.PENDING}),
        to=DeliveryStatus.UNKNOWN,
    )
    for line in lines:
        if line.message_id is None or line.message_id in taken:
            await services.tickets.deliver(line)


# Lines a passive reply may (again) carry: never handed over, or answered passively.
# A line custom/send already took is not repeated in a later passive reply.
PASSIVE = frozenset({DeliveryStatus.PENDING, DeliveryStatus.ANSWERED})


async def replies_to(
    sessionmaker: async_sessionmaker[AsyncSession],
    message_id: int,
    statuses: frozenset[DeliveryStatus] = PASSIVE,
) -> tuple[OutboundMessage, ...]:
    """The lines stored in answer to a customer message whose delivery is in `statuses`.

    WeChat redelivers when our answer did not reach it within 5 s, so the
    passive reply it still waits for is the one the first delivery made.
    """
    async with sessionmaker() as session:
        return await stored_replies(session, message_id, statuses)


class IntakeSweep:
    """Finishes what a stopped process left in the intake journal; forgets old entries."""

    def __init__(self, services: Services, intake: WeChatIntake) -> None:
        self._services = services
        self._intake = intake

    async def run(self, *, limit: int = 200) -> int:
        """One pass; the number of entries finished by it."""
        now = self._services.now()
        async with self._services.tickets.transaction() as session:
            await session.execute(
                delete(InboxMessage).where(InboxMessage.received_at < now - KEEP_FOR)
            )
        async with self._services.sessionmaker() as session:
            rows = list(
                (
                    await session.execute(
                        select(InboxMessage)
                        .where(
                            InboxMessage.channel == CHANNEL,
                            InboxMessage.done_at.is_(None),
                            InboxMessage.received_at < now - STALE_AFTER,
                        )
                        .order_by(InboxMessage.id)
                        .limit(limit)
                    )
                ).scalars()
            )
        finished = 0
        for row in rows:
            if self._intake.working_on(row.external_id):
                continue  # still being worked on here
            if await self._finish(row):
                finished += 1
            async with self._services.tickets.transaction() as session:
                await session.execute(
                    update(InboxMessage).where(InboxMessage.id == row.id).values(done_at=now)
                )
        return finished

    async def _finish(self, row: InboxMessage) -> bool:
        """Store the message if it is not, and hand over answering lines never handed over."""
        receipt = await self._services.tickets.receive(_inbound(row))
        if not receipt.duplicate:
            log.warning(
                "wechat message %s was journalled but not stored: stored now", row.external_id
            )
            await deliver_all(self._services, receipt.replies)
            return True
        pending = await replies_to(
            self._services.sessionmaker, receipt.message_id, frozenset({DeliveryStatus.PENDING})
        )
        if pending:
            log.warning(
                "wechat message %s: %d answering lines were never handed over: sending them",
                row.external_id,
                len(pending),
            )
            await deliver_all(self._services, pending)
        return bool(pending)
