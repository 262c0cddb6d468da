"""The one typed services object every handler receives, and the app keys it lives under.

`create_app` opens the services in a cleanup context (engine first, closed
last) and stores them under `SERVICES`; a handler reads
``request.app[SERVICES]`` and finds everything it needs there, by attribute,
typed — never by matching parameter names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels import SenderRegistry
from bot.settings import Settings
from compliance.calendar import AttendedClock, WorkCalendar
from compliance.policy import Policy
from storage.sealing import PLAIN, SecretBox

if TYPE_CHECKING:
    from bot.lifecycle import TicketService, TicketViews
    from bot.presend import PresendChecker
    from bot.prompting import Prompter
    from bot.timers import Scheduler


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling the engineer API: an engineer, a manager, QA."""

    staff_no: str
    name: str
    roles: tuple[str, ...]

    def has_role(self, role: str) -> bool:
        return role in self.roles


# Finds the acting staff member of an API request, or None (401).  The default
# reads the `X-Staff-No` header (no sign-in exists before the console issue);
# the console replaces it with one that reads its signed session cookie.
ActorResolver = Callable[[web.Request], Awaitable[Actor | None]]


@dataclass(slots=True)
class Services:
    """Everything the handlers and the scheduler share, opened once per app."""

    settings: Settings
    policy: Policy
    calendar: WorkCalendar
    clock: AttendedClock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    senders: SenderRegistry
    prompter: Prompter
    presend: PresendChecker
    tickets: TicketService
    views: TicketViews
    scheduler: Scheduler
    # Seals the secrets the database holds (bridge keys, access tokens).
    secrets: SecretBox = PLAIN

    def now(self) -> datetime:
        """The app's clock (injectable through `Settings.now`)."""
        return self.settings.now()


SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
ACTOR_RESOLVER = web.AppKey[ActorResolver]("actor_resolver")
