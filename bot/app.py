"""The aiohttp application: `create_app(settings)`, nothing started at import.

What is mounted, in this order:

1. the core (cleanup context): database engine and session factory,
   migrations (when `settings.migrate_on_start`), the policy roster synced
   into the engineers table, the services object under `SERVICES`, the SLA
   scheduler task (when `settings.scheduler_enabled`);
2. `/` → `/chat`, and the engineer API under `/api` (`bot.api`, the duty rota
   `bot.duty_api`);
3. the channel modules of `CHANNEL_MODULES` (`/chat`, `/wechat` …);
4. the page modules of `PAGE_MODULES` (the console under `/console`).

Both lists are plain imports: a module that fails to import stops the app, so
the engineer API can never be left trusting its ``X-Staff-No`` header because
the console (which replaces that resolver with its sign-in) went missing.

Every module is mounted by its ``setup(app)``; its cleanup contexts run after
the core's, so `app[SERVICES]` is there when they start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta

import jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import api, duty_api, health
from bot.channels import ChannelModule, SenderRegistry, bridge, wechat, wecom_kf
from bot.channels import web as web_chat
from bot.console import app as console
from bot.context import ACTOR_RESOLVER, SERVICES, SETTINGS, TEMPLATES, Services
from bot.exemplar_watch import ExemplarWatch
from bot.http import input_guard, json_errors
from bot.lifecycle import Desk, TicketService
from bot.media import routes as media
from bot.presend import PresendChecker
from bot.prompting import Prompter
from bot.proxy import trust_forwarded
from bot.settings import Settings
from bot.timers import Chore, Scheduler, running
from compliance.exemplars import exemplar_version, stored_exemplars
from compliance.policy import Policy, build_calendar, build_clock
from storage.db import make_async_engine, make_async_sessionmaker
from storage.migrate import upgrade
from storage.models import Engineer
from storage.sealing import SecretBox

log = logging.getLogger("bot.app")

# Every channel module, in mounting order: the web chat needs no credentials;
# the others mount their routes always and answer 503 until configured; media
# (uploads, the background fetcher) comes last, after the senders it wraps.
CHANNEL_MODULES: tuple[ChannelModule, ...] = (web_chat, wechat, wecom_kf, bridge, media)
# Page modules mounted after the channels.
PAGE_MODULES: tuple[ChannelModule, ...] = (console,)


def make_templates() -> jinja2.Environment:
    """The bot's page templates (`bot/templates`), HTML-autoescaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
    )


async def sync_roster(
    sessionmaker: async_sessionmaker[AsyncSession], policy: Policy, *, force: bool = False
) -> int:
    """Put the policy's roster into the engineers table; returns rows added or changed.

    Runs when the policy is the roster's source (``[roster] source = "policy"``)
    or when `force` (``serve --demo``).  Several processes starting together
    may race to insert the same 工号: the loser reads the winner's row.
    """
    if policy.roster.source != "policy" and not force:
        return 0
    changed = 0
    for person in policy.roster.engineers:
        try:
            async with sessionmaker() as session, session.begin():
                row = await session.scalar(
                    select(Engineer).where(Engineer.staff_no == person.staff_no)
                )
                roles = list(person.roles)
                if row is None:
                    session.add(
                        Engineer(
                            staff_no=person.staff_no,
                            name=person.name,
                            roles=roles,
                            on_duty=person.on_duty,
                        )
                    )
                    changed += 1
                elif (row.name, list(row.roles), row.on_duty) != (
                    person.name,
                    roles,
                    person.on_duty,
                ):
                    row.name, row.roles, row.on_duty = person.name, roles, person.on_duty
                    changed += 1
        except IntegrityError:
            continue
    return changed


def _chores(settings: Settings, tickets: TicketService) -> list[Chore]:
    """The scheduler's housekeeping: retention masking, hourly, when retention is on."""
    if settings.retention_days <= 0:
        return []
    days = settings.retention_days

    async def retention() -> str | None:
        masked = await tickets.mask_expired(days)
        return f"masked {len(masked)} closed ticket(s) past {days} days" if masked else None

    return [Chore("retention", timedelta(hours=1), retention)]


async def _core(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = settings.policy
    box = SecretBox.from_environ(settings.environ)
    if settings.migrate_on_start:
        # Alembic is synchronous: keep it off the event loop.
        # With a key, plain secrets left in the database are sealed on the way.
        await asyncio.to_thread(upgrade, settings.db_url, secret_key=box.secret)
    engine = make_async_engine(settings.db_url)
    try:
        sessionmaker = make_async_sessionmaker(engine)
        await sync_roster(sessionmaker, policy, force=settings.demo)
        calendar = build_calendar(policy)
        clock = build_clock(policy, calendar)
        senders = SenderRegistry()
        prompter = Prompter(policy, calendar)
        # QA's marks stored so far teach the pre-send check too (read at start-up),
        # and those made later, by this process or another, as they come.
        async with engine.connect() as connection:
            version = await connection.run_sync(exemplar_version)
            exemplars = await connection.run_sync(stored_exemplars)
        presend = PresendChecker(policy, exemplars or None)
        watch = ExemplarWatch(engine, presend, interval_s=settings.exemplar_poll_s, version=version)
        tickets = TicketService(
            Desk(
                settings=settings,
                policy=policy,
                calendar=calendar,
                clock=clock,
                sessionmaker=sessionmaker,
                prompter=prompter,
                presend=presend,
                senders=senders,
                exemplars=watch,
            )
        )
        scheduler = Scheduler(
            tickets.transaction,
            tickets.timer_handlers(),
            instance_id=settings.instance_id,
            now=settings.now,
            skip_locked=tickets.lock_rows,
            lock_s=settings.timer_lock_s,
            chores=_chores(settings, tickets),
        )
        app[SERVICES] = Services(
            settings=settings,
            policy=policy,
            calendar=calendar,
            clock=clock,
            engine=engine,
            sessionmaker=sessionmaker,
            senders=senders,
            prompter=prompter,
            presend=presend,
            tickets=tickets,
            views=tickets.views,
            scheduler=scheduler,
            secrets=box,
        )
        if settings.scheduler_enabled:
            async with running(scheduler, settings.scheduler_interval_s):
                yield
        else:
            yield
    finally:
        await engine.dispose()


async def _to_chat(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/chat")


async def _favicon(request: web.Request) -> web.StreamResponse:
    # Browsers ask for /favicon.ico whatever the page links: the same icon, no 404.
    raise web.HTTPMovedPermanently("/chat/static/favicon.svg")


def create_app(
    settings: Settings,
    *,
    channel_modules: Iterable[ChannelModule] | None = None,
    page_modules: Iterable[ChannelModule] | None = None,
) -> web.Application:
    """The whole bot as one aiohttp application (see the module docstring)."""
    # Behind a trusted proxy its X-Forwarded-* headers are read first (`bot.proxy`).
    # Every query value, path parameter and X- header passes the text rule (`bot.http`).
    middlewares = [json_errors, input_guard]
    if settings.trust_proxy:
        middlewares.insert(0, trust_forwarded)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[SETTINGS] = settings
    app[TEMPLATES] = make_templates()
    app[ACTOR_RESOLVER] = api.header_actor
    app.cleanup_ctx.append(_core)
    app.router.add_get("/", _to_chat)
    app.router.add_get("/favicon.ico", _favicon)
    health.setup(app)
    api.setup(app)
    duty_api.setup(app)
    for module in CHANNEL_MODULES if channel_modules is None else channel_modules:
        module.setup(app)
    for page in PAGE_MODULES if page_modules is None else page_modules:
        page.setup(app)
    return app
