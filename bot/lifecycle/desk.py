"""The service desk: what every lifecycle step works with, opened once per app.

The policy and its calendar and attended-hours clock, the database (one write
transaction per customer message, action or timer), the prompter that renders
script lines, the pre-send checker, the channel senders, and the customer-side
matchers the checker uses too (cue lists, acknowledgements, ratings).

Transactions: on PostgreSQL the row a step works on (the customer for intake,
the ticket for actions and timers) is locked ``FOR UPDATE``, so several
processes serialise per customer and per ticket (`lock_rows`); on SQLite (one
process) an asyncio lock serialises this process's writers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels import SenderRegistry
from bot.exemplar_watch import ExemplarWatch
from bot.presend import PresendChecker
from bot.prompting import Prompter
from bot.settings import Settings
from compliance.calendar import AttendedClock, WorkCalendar, as_aware
from compliance.checker import customer_cue_lists
from compliance.classify import Classifier
from compliance.matchers import AckMatcher, CueBook, CueList, folder_for
from compliance.policy import Policy


class Desk:
    """The shared tools of the lifecycle's steps (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: Settings,
        policy: Policy,
        calendar: WorkCalendar,
        clock: AttendedClock,
        sessionmaker: async_sessionmaker[AsyncSession],
        prompter: Prompter,
        presend: PresendChecker,
        senders: SenderRegistry,
        exemplars: ExemplarWatch | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.calendar = calendar
        self.clock = clock
        self.sessionmaker = sessionmaker
        self.prompter = prompter
        self.presend = presend
        # QA's marks since start-up reach the pre-send check (`bot.exemplar_watch`).
        self.exemplars = exemplars
        self.senders = senders
        self.classifier = Classifier(policy)
        folder = folder_for(policy)
        # The checker's own customer-side cue lists and matchers (one source of truth).
        self.customer_cues = CueBook(customer_cue_lists(policy), folder)
        # What opens a tracked complaint (seed 002 1.1.2), stricter than LNG007's cues.
        self.complaint_cues = CueBook(
            [CueList("tracked_complaint", policy.complaints.cues)], folder
        )
        self.acks = AckMatcher(policy.phrases.ack_only, folder)
        self.rating_labels = tuple(level.label for level in policy.satisfaction.scale)
        bind = sessionmaker.kw.get("bind")
        dialect = bind.dialect.name if bind is not None else ""
        self.lock_rows = dialect == "postgresql"
        # SQLite has one writer: serialise this process's write transactions
        # rather than let two of them fail on the upgrade to a write lock.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if dialect == "sqlite" else None

    def now(self) -> datetime:
        return as_aware(self.settings.now())

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction (serialised per process on SQLite)."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self.sessionmaker() as session, session.begin():
            yield session

    async def refresh_presend(self) -> None:
        """Bring the pre-send check up to the database's exemplars (a look at most
        every ``exemplar_poll_s``; outside any transaction)."""
        if self.exemplars is not None:
            await self.exemplars.refresh()

    def is_ack_only(self, text: str) -> bool:
        """A customer line that needs no reply (好的, 收到, 谢谢, an emoji …)."""
        return self.acks.is_ack_only(text)
