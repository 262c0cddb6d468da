"""QA's marks reach a running ``serve``'s pre-send check without a restart.

A mark on a finding stores an exemplar (`compliance.exemplars`) in the database
that every ``serve`` process shares.  Each process keeps its pre-send check on
the exemplars it last read, and before it checks a draft asks the database, at
most once every ``exemplar_poll_s`` seconds (`Settings`), for their fingerprint
(`exemplar_version`: one aggregate over the exemplars table, on its own short
connection, never the draft's transaction).  When the fingerprint changed, the
process reads the active exemplars and compiles the detectors with them off the
event loop (a few tenths of a second, once per change), then swaps them in: the
draft that noticed the change is checked with the new ones, and so is every later
draft in that process.  Another process notices on its own next draft.

(The checker QA runs from the console reads the exemplars afresh on every run,
`bot.console.qa_data.run_check`; this is only the pre-send check's.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.presend import PresendChecker
from compliance.exemplars import ExemplarVersion, exemplar_version, stored_exemplars

log = logging.getLogger("bot.exemplar_watch")


class ExemplarWatch:
    """Keeps one process's `PresendChecker` on the database's active exemplars."""

    def __init__(
        self,
        engine: AsyncEngine,
        presend: PresendChecker,
        *,
        interval_s: float,
        version: ExemplarVersion | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.presend = presend
        self.interval_s = interval_s
        self.version = version
        """The fingerprint of the exemplars the pre-send check has (None: unknown)."""
        self._monotonic = monotonic
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()
        self.reloads = 0
        """How many times the exemplars were reloaded (for tests and logs)."""

    async def refresh(self) -> bool:
        """Reload the exemplars if they changed since last read; at most one look at
        the database per `interval_s`.  True when they were reloaded."""
        now = self._monotonic()
        if self._checked_at is not None and now - self._checked_at < self.interval_s:
            return False
        async with self._lock:  # one reload at a time, however many drafts wait
            if self._checked_at is not None and now - self._checked_at < self.interval_s:
                return False
            self._checked_at = self._monotonic()
            try:
                async with self.engine.connect() as connection:
                    version = await connection.run_sync(exemplar_version)
                    if version == self.version:
                        return False
                    exemplars = await connection.run_sync(stored_exemplars)
            except SQLAlchemyError as exc:
                # The check goes on with what it has; the next look tries again.
                log.warning("exemplars not reloaded: %s", exc)
                return False
            compiled = await asyncio.to_thread(self.presend.compile, exemplars or None)
            self.presend.use(compiled)
            self.version = version
            self.reloads += 1
            log.info("pre-send check reloaded %d exemplar(s)", version[0])
            return True
