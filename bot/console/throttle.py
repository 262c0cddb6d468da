"""Sign-in throttling per account and per client address, shared through the database.

Every sign-in attempt is counted *before* the password is checked, in one
short transaction that locks the account's and the address's rows (``FOR
UPDATE`` on PostgreSQL; on SQLite the desk's write lock serialises the one
process).  So a burst of parallel guesses cannot slip past the check while
the slow password hash runs, and every `serve` process on the database sees
the same counts and lockouts.

- An account gets `ThrottlePolicy.account_free` attempts, an address
  `address_free` (an office behind one NAT address signs in many people);
  from then on each further attempt locks the key for a delay that doubles
  (30 s, 1 min, 2 min … up to 15 min).  While locked, attempts are refused
  with 429 and ``Retry-After`` and are not counted, so a lockout ends.
- A successful sign-in clears its account's count and takes back its own
  tentative count on the address.
- A key without a failure for `forget_after` starts again from zero.
- An admin unlocks an account (or an address) from the accounts page: the
  row is deleted.

Wall-clock time (`bot.console.auth.now_s`), like the cookies: not the app's
business clock, which tests move by days.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle import TicketService
from storage.account_models import SigninThrottle

log = logging.getLogger("bot.console.throttle")

ACCOUNT = "account:"
ADDRESS = "address:"
MAX_KEY = 200


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many attempts are free, and how the lockout grows."""

    account_free: int = 5
    address_free: int = 20
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def free(self, key: str) -> int:
        return self.account_free if key.startswith(ACCOUNT) else self.address_free

    def delay(self, key: str, attempts: int) -> timedelta | None:
        """How long `key` is locked after its `attempts`-th counted attempt (None: not)."""
        over = attempts - self.free(key)
        if over < 0:
            return None
        return min(self.first_delay * (2 ** min(over, 20)), self.max_delay)


DEFAULT_POLICY = ThrottlePolicy()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The throttle's answer to one attempt: allowed, or refused for `retry_after_s`."""

    allowed: bool
    retry_after_s: int = 0
    key: str | None = None


def account_key(username: str) -> str:
    return (ACCOUNT + username.strip())[:MAX_KEY]


def address_key(address: str | None) -> str:
    return (ADDRESS + (address or "unknown"))[:MAX_KEY]


async def _row(session: AsyncSession, key: str, now: datetime, lock: bool) -> SigninThrottle:
    """The key's row, created (at zero) if missing, locked for this transaction."""
    query = select(SigninThrottle).where(SigninThrottle.key == key)
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            session.add(SigninThrottle(key=key, failures=0, last_failure_at=now))
    except IntegrityError:
        pass  # another process created it first: lock theirs
    row = await session.scalar(query.execution_options(populate_existing=True))
    assert row is not None
    return row


async def attempt(
    tickets: TicketService,
    keys: tuple[str, ...],
    now: datetime,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> Verdict:
    """Count one sign-in attempt against every key, or refuse it while one is locked."""
    async with tickets.transaction() as session:
        rows = [await _row(session, key, now, tickets.lock_rows) for key in sorted(set(keys))]
        locked = [row for row in rows if row.locked_until is not None and row.locked_until > now]
        if locked:
            until = max(row.locked_until for row in locked if row.locked_until is not None)
            worst = max(locked, key=lambda row: row.locked_until or now)
            return Verdict(False, max(1, math.ceil((until - now).total_seconds())), worst.key)
        for row in rows:
            if row.last_failure_at < now - policy.forget_after:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            delay = policy.delay(row.key, row.failures)
            row.locked_until = now + delay if delay is not None else None
            if delay is not None:
                log.warning(
                    "sign-in throttled: %s after %d attempts, locked for %d s",
                    row.key,
                    row.failures,
                    delay.total_seconds(),
                )
    return Verdict(True)


async def succeeded(
    tickets: TicketService,
    username: str,
    address: str | None,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> None:
    """The password was right: clear the account, take back this attempt on the address."""
    async with tickets.transaction() as session:
        await session.execute(
            delete(SigninThrottle).where(SigninThrottle.key == account_key(username))
        )
        row = await session.scalar(
            select(SigninThrottle).where(SigninThrottle.key == address_key(address))
        )
        if row is not None and row.failures > 0:
            row.failures -= 1
            if policy.delay(row.key, row.failures) is None:
                row.locked_until = None


async def unlock(tickets: TicketService, key: str, by: str) -> bool:
    """Lift a lockout (an admin's action); False when the key had no record."""
    async with tickets.transaction() as session:
        result = await session.execute(delete(SigninThrottle).where(SigninThrottle.key == key))
    done = bool(getattr(result, "rowcount", 0))
    if done:
        log.warning("sign-in throttle cleared for %s by %s", key, by)
    return done


async def locked_keys(tickets: TicketService, now: datetime) -> list[SigninThrottle]:
    """Every key locked out now (for the accounts page), the latest failure first."""
    async with tickets.desk.sessionmaker() as session:
        rows = await session.scalars(
            select(SigninThrottle)
            .where(SigninThrottle.failures > 0)
            .order_by(SigninThrottle.last_failure_at.desc())
            .limit(200)
        )
        return [row for row in rows if row.locked_until is not None and row.locked_until > now]
