"""The console as an aiohttp sub-application mounted at ``/console``.

`setup(app)` builds the sub-app (its router from the page modules' ROUTES,
its templates and static files, the guard middleware below), mounts it on the
bot's app, and swaps the engineer API's actor resolver for one that reads the
console's session cookie (`bot.console.api_auth`).  Everything the console
does to tickets goes through the bot's `TicketService` (`app[SERVICES]`),
so the chat API and the console record the same events.  `bot.app` mounts
it; no console module imports this one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

from bot.accounts import seed_demo_accounts
from bot.console import (
    actions,
    delivery,
    desk,
    duty,
    engineer,
    manager,
    media,
    privacy,
    qa,
    reminders,
    search,
    signin,
    users,
)
from bot.console.api_auth import session_actor
from bot.console.auth import (
    CONSOLE_SESSION,
    CONSOLE_USER,
    SAFE_METHODS,
    SESSION_COOKIE,
    Handler,
    Route,
    load_user,
    now_s,
    refusal,
    sign_in_redirect,
    submitted_csrf,
)
from bot.console.demo import seed_sessions
from bot.console.pages import (
    CONSOLE,
    PREFIX,
    ConsoleState,
    make_templates,
    services_of,
    state_of,
)
from bot.console.qa_data import run_check
from bot.context import ACTOR_RESOLVER, SERVICES, SETTINGS, Services
from compliance.calendar import SHANGHAI
from storage.db import make_engine

log = logging.getLogger("bot.console")

STATIC_DIR = Path(__file__).with_name("static")


# -- the guard ------------------------------------------------------------------------


@web.middleware
async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, CSRF and role checks before any console handler (see `bot.console.auth`)."""
    state = state_of(request)
    prefix = state.prefix
    route_name = request.match_info.route.name
    route = state.routes.get(route_name) if route_name else None
    if route_name == "console.static" or (route is not None and route.public):
        return await handler(request)
    services = services_of(request)
    signer = await state.signer(services)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = signer.read_session(cookie, now_s()) if cookie else None
    user = await load_user(services.sessionmaker, session) if session else None
    if session is None or user is None:
        if request.path.startswith(f"{prefix}/api/"):
            return refusal(request, prefix, 401, "unauthenticated", "请先登录工作台")
        raise sign_in_redirect(request, prefix)
    if request.method not in SAFE_METHODS and not signer.csrf_ok(
        session.nonce, await submitted_csrf(request)
    ):
        log.info("%s %s -> 403 missing or wrong CSRF token", request.method, request.path)
        return refusal(
            request, prefix, 403, "csrf", "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试"
        )
    if route is None:
        raise web.HTTPNotFound()
    if user.role not in route.roles:
        return refusal(request, prefix, 403, "forbidden", "您的角色无权访问此页面")
    request[CONSOLE_USER] = user
    request[CONSOLE_SESSION] = session
    return await handler(request)


# -- mounting ----------------------------------------------------------------------------


def build_routes() -> tuple[Route, ...]:
    """Every console route, in one visible list (views register nothing themselves)."""
    return (
        *signin.ROUTES,
        *engineer.ROUTES,
        # Before the actions: their catch-all ``/api/tickets/{n}/{action}`` would take it.
        *privacy.ROUTES,
        *desk.ROUTES,
        *media.ROUTES,
        *actions.ROUTES,
        *delivery.ROUTES,
        *qa.ROUTES,
        *manager.ROUTES,
        *duty.ROUTES,
        *search.ROUTES,
        *reminders.ROUTES,
        *users.ROUTES,
    )


def build_console(routes: Iterable[Route] | None = None) -> web.Application:
    """The console sub-application (not yet mounted)."""
    table = tuple(build_routes() if routes is None else routes)
    console = web.Application(middlewares=[console_guard])
    console[CONSOLE] = ConsoleState(
        templates=make_templates(), routes={route.name: route for route in table}
    )
    for route in table:
        console.router.add_route(route.method, route.path, route.handler, name=route.name)
    console.router.add_static("/static", STATIC_DIR, name="console.static", append_version=True)
    return console


def setup(app: web.Application) -> None:
    """Mount the console on the bot's app at ``/console`` and make the engineer API
    (``/api``) accept its sign-in (`bot.console.api_auth.session_actor`)."""
    console = build_console()

    async def demo_accounts(_console: web.Application) -> None:
        # Sub-app startup runs after the core cleanup context opened the services.
        if app[SETTINGS].demo:
            await _seed_demo(app[SERVICES])

    async def close_engine(_console: web.Application) -> None:
        console[CONSOLE].close()

    console.on_startup.append(demo_accounts)
    console.on_cleanup.append(close_engine)
    app.add_subapp(PREFIX, console)
    app.router.add_get(PREFIX, _to_console_home)
    app[ACTOR_RESOLVER] = session_actor(console[CONSOLE])


async def _to_console_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{PREFIX}/")


async def _seed_demo(services: Services) -> None:
    """`serve --demo`: the demo accounts, and how to sign in with them."""
    lines = await seed_demo_accounts(services.sessionmaker)
    print(f"  console (sign in):     {services.settings.base_url}{PREFIX}/", flush=True)
    for line in lines:
        print(f"    {line}", flush=True)
    # Sample sessions, checked, so the QA dashboard is not empty on the first visit.
    now = services.now()
    day = now.astimezone(SHANGHAI).date()
    engine = make_engine(services.settings.db_url)
    try:
        stored = await asyncio.to_thread(seed_sessions, engine, services.policy, day)
        if stored:
            await asyncio.to_thread(
                run_check, engine, services.policy, day, day, by="demo", now=now
            )
            print(
                f"  sample sessions:       {len(stored)} (1 clean, {len(stored) - 1} flawed),"
                f" checked: {services.settings.base_url}{PREFIX}/qa",
                flush=True,
            )
    finally:
        engine.dispose()
