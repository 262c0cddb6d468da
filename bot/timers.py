"""SLA timers: rows in the database, fired by a scheduler that several processes can run.

Every deadline the bot keeps (accept, solution, extension, progress days,
RMA chase, archive, stable running, on-site) is a `Timer` row with a `kind`,
a `due_at` and a `payload`.  Any number of `serve` processes run a
`Scheduler` over the same database; a row fires in exactly one of them:

1. *Claim* (one short transaction): due pending rows that nobody holds, or
   whose holder's lock has expired (its process died), get this process's
   id in `locked_by` and a lock deadline in `locked_until`.  On PostgreSQL
   the candidates are selected ``FOR UPDATE SKIP LOCKED``, so two schedulers
   never wait on each other's rows; everywhere each row is then claimed by a
   conditional ``UPDATE … WHERE <still claimable>`` whose row count says who
   won (that is the whole claim on SQLite, which has one writer).
2. *Fire* (one transaction per row): the timer's ticket is locked (on
   PostgreSQL; lock order ticket → timer, as in the engineer actions), the
   row is marked ``fired`` — only if this process still holds it — and the
   handler for its kind does its work in the same transaction, so the work
   and the mark commit together or not at all.  Handlers re-check the
   ticket (a reminder for a ticket accepted meanwhile does nothing).
3. A handler that raises rolls its work back; the row stays pending with a
   growing back-off and is cancelled (and logged) after `MAX_ATTEMPTS`.

The clock is the app's (`Settings.now`), so tests move time by hand and call
`run_due()` instead of sleeping.

Besides the timers, the loop runs *chores*: housekeeping that is not tied to
one ticket (masking closed tickets past retention), each at most once per its
interval of the app clock and process.  A chore must be safe to run in several
processes at once (the retention chore claims its tickets SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Ticket, Timer, TimerStatus

log = logging.getLogger("bot.timers")

PENDING = TimerStatus.PENDING
FIRED = TimerStatus.FIRED
CANCELLED = TimerStatus.CANCELLED
FAILED = "failed"  # an outcome only: the row stays pending for a retry
SKIPPED = "skipped"  # an outcome only: another process took the row over
MAX_ATTEMPTS = 5
RETRY_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A claimed timer, detached from its session: what a handler gets."""

    id: int
    kind: str
    ticket_id: int
    due_at: datetime
    payload: Mapping[str, Any]
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class FiredTimer:
    """The outcome of one timer in a `run_due` pass (for logs and tests)."""

    id: int
    kind: str
    ticket_id: int
    status: str
    detail: str | None = None


# A handler works inside the scheduler's transaction and says what it did.
@dataclass(frozen=True, slots=True)
class AfterCommit:
    """A handler's outcome with work for after its transaction committed (the lines it
    stored for the customer, handed to their channel only once they are in the
    transcript)."""

    detail: str
    run: Callable[[], Awaitable[object]]


TimerHandler = Callable[[AsyncSession, DueTimer, datetime], Awaitable[str | AfterCommit | None]]
Transaction = Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]


def schedule(
    session: AsyncSession,
    kind: str,
    due_at: datetime,
    *,
    ticket_id: int,
    payload: Mapping[str, Any] | None = None,
) -> Timer:
    """Add a pending timer to `session` (committed with the caller's transaction)."""
    timer = Timer(
        kind=kind,
        due_at=due_at,
        status=PENDING,
        ticket_id=ticket_id,
        payload=dict(payload or {}),
    )
    session.add(timer)
    return timer


async def cancel(session: AsyncSession, ticket_id: int, kinds: Iterable[str]) -> int:
    """Cancel the ticket's pending timers of `kinds`; returns how many."""
    result = await session.execute(
        update(Timer)
        .where(
            Timer.ticket_id == ticket_id,
            Timer.kind.in_(list(kinds)),
            Timer.status == PENDING,
        )
        .values(status=CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(slots=True)
class Chore:
    """Housekeeping the scheduler's loop runs every `interval` (see the module docstring)."""

    name: str
    interval: timedelta
    run: Callable[[], Awaitable[Any]]
    last_run: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self.last_run is None or now - self.last_run >= self.interval


class Scheduler:
    """Claims and fires due timers; `run_due` once, or `run_forever` in the background."""

    def __init__(
        self,
        transaction: Transaction,
        handlers: Mapping[str, TimerHandler],
        *,
        instance_id: str,
        now: Callable[[], datetime],
        skip_locked: bool,
        lock_s: int = 120,
        batch: int = 50,
        chores: Iterable[Chore] = (),
    ) -> None:
        self.transaction = transaction
        self.chores = list(chores)
        self.handlers = dict(handlers)
        self.instance_id = instance_id
        self.now = now
        self.skip_locked = skip_locked
        self.lock = timedelta(seconds=lock_s)
        self.batch = batch

    @staticmethod
    def _claimable(now: datetime) -> Any:
        return (
            (Timer.status == PENDING)
            & (Timer.due_at <= now)
            & or_(Timer.locked_until.is_(None), Timer.locked_until < now)
        )

    async def claim(self, now: datetime) -> list[DueTimer]:
        """Mark up to `batch` due timers as ours; returns them in due order."""
        until = now + self.lock
        async with self.transaction() as session:
            query = (
                select(Timer.id)
                .where(self._claimable(now))
                .order_by(Timer.due_at, Timer.id)
                .limit(self.batch)
            )
            if self.skip_locked:
                query = query.with_for_update(skip_locked=True)
            ids = list((await session.execute(query)).scalars())
            claimed: list[int] = []
            for timer_id in ids:
                result = await session.execute(
                    update(Timer)
                    .where(Timer.id == timer_id, self._claimable(now))
                    .values(locked_by=self.instance_id, locked_until=until)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(timer_id)
            if not claimed:
                return []
            rows = (
                await session.execute(
                    select(Timer).where(Timer.id.in_(claimed)).order_by(Timer.due_at, Timer.id)
                )
            ).scalars()
            return [
                DueTimer(
                    id=row.id,
                    kind=row.kind,
                    ticket_id=row.ticket_id,
                    due_at=row.due_at,
                    payload=dict(row.payload or {}),
                    attempts=row.attempts,
                )
                for row in rows
            ]

    async def run_due(self, now: datetime | None = None) -> list[FiredTimer]:
        """Claim and fire every timer due at `now` (default: the app clock)."""
        now = now or self.now()
        fired: list[FiredTimer] = []
        while True:
            claimed = await self.claim(now)
            for timer in claimed:
                fired.append(await self._fire(timer, now))
            # A short batch was the last; after a full one, claim again (rows that
            # failed just now are held by their back-off, so this loop ends).
            if len(claimed) < self.batch:
                return fired

    async def _fire(self, timer: DueTimer, now: datetime) -> FiredTimer:
        handler = self.handlers.get(timer.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for timer kind {timer.kind!r}")
            async with self.transaction() as session:
                if self.skip_locked:
                    # Ticket first, then the timer: the order engineer actions
                    # take them in (they cancel timers under the ticket's lock),
                    # so the two never wait on each other in a cycle.
                    await session.execute(
                        select(Ticket.id).where(Ticket.id == timer.ticket_id).with_for_update()
                    )
                mark = await session.execute(
                    update(Timer)
                    .where(
                        Timer.id == timer.id,
                        Timer.status == PENDING,
                        Timer.locked_by == self.instance_id,
                    )
                    .values(
                        status=FIRED, fired_at=now, attempts=timer.attempts + 1, locked_until=None
                    )
                    .execution_options(synchronize_session=False)
                )
                if getattr(mark, "rowcount", 0) != 1:
                    return FiredTimer(timer.id, timer.kind, timer.ticket_id, SKIPPED)
                outcome = await handler(session, timer, now)
        except Exception as exc:
            # One broken ticket must not stop every other deadline.
            log.exception("timer %d (%s, ticket %s) failed", timer.id, timer.kind, timer.ticket_id)
            await self._failed(timer, now)
            return FiredTimer(timer.id, timer.kind, timer.ticket_id, FAILED, repr(exc))
        if isinstance(outcome, AfterCommit):
            try:
                await outcome.run()
            except Exception:
                # The work is committed (the line is in the transcript, pending): the
                # delivery problem shows on the console, the timer stays fired.
                log.exception("timer %d (%s): after-commit step failed", timer.id, timer.kind)
            return FiredTimer(timer.id, timer.kind, timer.ticket_id, FIRED, outcome.detail)
        return FiredTimer(timer.id, timer.kind, timer.ticket_id, FIRED, outcome)

    async def _failed(self, timer: DueTimer, now: datetime) -> None:
        attempts = timer.attempts + 1
        values: dict[str, Any]
        if attempts >= MAX_ATTEMPTS:
            log.error("timer %d (%s) cancelled after %d attempts", timer.id, timer.kind, attempts)
            values = {"status": CANCELLED, "attempts": attempts, "locked_until": None}
        else:
            values = {
                "attempts": attempts,
                "locked_by": None,
                "locked_until": now + RETRY_AFTER * attempts,
            }
        async with self.transaction() as session:
            await session.execute(
                update(Timer)
                .where(
                    Timer.id == timer.id,
                    Timer.status == PENDING,
                    Timer.locked_by == self.instance_id,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def run_chores(self, now: datetime | None = None) -> list[str]:
        """Run the chores that are due at `now`; their names.  One that fails is logged
        and tried again next interval."""
        now = now or self.now()
        ran: list[str] = []
        for chore in self.chores:
            if not chore.due(now):
                continue
            chore.last_run = now
            try:
                result = await chore.run()
            except Exception:
                log.exception("chore %s failed", chore.name)
                continue
            if result:
                log.info("chore %s: %s", chore.name, result)
            ran.append(chore.name)
        return ran

    async def run_forever(self, interval_s: float) -> None:
        """Fire due timers (and run due chores) every `interval_s` seconds until cancelled."""
        while True:
            try:
                fired = await self.run_due()
                if fired:
                    log.info("fired %d timer(s)", len(fired))
                await self.run_chores()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A lost database connection: try again next round.
                log.exception("scheduler pass failed")
            await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler, interval_s: float) -> AsyncIterator[asyncio.Task[None]]:
    """Run the scheduler as a background task for the life of the context."""
    task = asyncio.create_task(scheduler.run_forever(interval_s), name="sla-scheduler")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
