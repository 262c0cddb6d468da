"""The console as an aiohttp sub-application mounted at ``/console``.

`setup_console(app)` builds the sub-app (its own router, templates, static
files and the guard middleware of `bot.console.auth`), mounts it on the bot's
app, and swaps the engineer API's actor resolver for one that reads the
console's session cookie (`bot.console.api_auth`).  Everything the console
does to tickets goes through the bot's `TicketService` (`app[SERVICES]`),
so the chat API and the console record the same events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from sqlalchemy import Engine

from bot.console.auth import (
    CONSOLE_SESSION,
    CONSOLE_USER,
    SAFE_METHODS,
    SESSION_COOKIE,
    ConsoleUser,
    Handler,
    Route,
    load_user,
    now_s,
    refusal,
    sign_in_redirect,
    submitted_csrf,
)
from bot.console.keys import console_secret
from bot.console.security import Signer
from bot.context import ACTOR_RESOLVER, SERVICES, SETTINGS, Services
from storage.db import make_engine

log = logging.getLogger("bot.console")

PREFIX = "/console"
STATIC_DIR = Path(__file__).with_name("static")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[str]


NAV: tuple[NavItem, ...] = (
    NavItem("我的工单", f"{PREFIX}/queue", frozenset({"engineer"})),
    NavItem("全部工单", f"{PREFIX}/queue", frozenset({"manager", "admin"})),
    NavItem("质检概览", f"{PREFIX}/qa", frozenset({"qa", "manager", "admin"})),
    NavItem("问题列表", f"{PREFIX}/qa/findings", frozenset({"qa", "manager", "admin"})),
    NavItem("误报清单", f"{PREFIX}/qa/false-positives", frozenset({"qa", "manager", "admin"})),
    NavItem("范例句", f"{PREFIX}/qa/exemplars", frozenset({"qa", "manager", "admin"})),
    NavItem("团队管理", f"{PREFIX}/manager", frozenset({"manager", "admin"})),
    NavItem("账号", f"{PREFIX}/admin/users", frozenset({"admin"})),
)

# Only the console's own script and styles run; a customer's text that slipped
# past escaping could not load or run anything.  Inline style attributes stay
# allowed (templates use a few); charts are inline SVG.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

# Short notices a redirect may carry (``?notice=key``): fixed texts, so a link
# cannot put words of its own on the page.
NOTICES: Mapping[str, tuple[str, str]] = {
    "signed_out": ("ok", "您已退出登录。"),
    "fp_saved": ("ok", "已标记为误报，原因已记录；该问题不再计入评分。"),
    "fp_removed": ("ok", "已撤销误报标记。"),
    "confirmed_saved": ("ok", "已确认为违规；这句话已作为范例句，供检测器学习。"),
    "reassigned": ("ok", "工单已改派，新工程师的问候语已发送给客户。"),
    "extension_granted": ("ok", "已批准延期，方案时限已延长。"),
    "user_created": ("ok", "账号已创建。"),
    "user_updated": ("ok", "账号已更新。"),
    "check_done": ("ok", "质检已完成。"),
}


@dataclass(eq=False)
class ConsoleState:
    """What every console handler shares: templates, routes, the cookie signer."""

    templates: jinja2.Environment
    routes: Mapping[str, Route]
    prefix: str = PREFIX
    _signer: Signer | None = None
    _engine: Engine | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def signer(self, services: Services) -> Signer:
        """The signer, its secret read (or created) once per process."""
        if self._signer is None:
            async with self._lock:
                if self._signer is None:
                    secret = await console_secret(services.settings.environ, services.sessionmaker)
                    self._signer = Signer(secret)
        return self._signer

    async def sync_engine(self, services: Services) -> Engine:
        """A synchronous engine on the app's database, for the compliance checker and
        reports (synchronous code, run in worker threads); made on first use."""
        if self._engine is None:
            self._engine = make_engine(services.settings.db_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


CONSOLE = web.AppKey("console", ConsoleState)


def services_of(request: web.Request) -> Services:
    return request.config_dict[SERVICES]


def state_of(request: web.Request) -> ConsoleState:
    return request.config_dict[CONSOLE]


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


# -- pages ---------------------------------------------------------------------------------


def _local(value: datetime | str | None, fmt: str = "%m-%d %H:%M") -> str:
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI).strftime(fmt)


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.console", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local
    return env


def nav_for(user: ConsoleUser, path: str) -> list[dict[str, Any]]:
    items = []
    for item in NAV:
        if user.role in item.roles:
            current = path == item.href or (
                item.href != f"{PREFIX}/qa" and path.startswith(item.href + "/")
            )
            items.append({"label": item.label, "href": item.href, "current": current})
    return items


async def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page: the template with the common context (user, nav, CSRF token, notices)."""
    state = state_of(request)
    services = services_of(request)
    user = request.get(CONSOLE_USER)
    session = request.get(CONSOLE_SESSION)
    signer = await state.signer(services)
    notice = NOTICES.get(request.query.get("notice", ""))
    base: dict[str, Any] = {
        "prefix": state.prefix,
        "static_prefix": f"{state.prefix}/static",
        "centre": services.policy.company.centre,
        "user": user,
        "role_label": user.role_label if user else "",
        "nav": nav_for(user, request.path) if user else [],
        "csrf_token": signer.csrf_token(session.nonce) if session else "",
        "flashes": [{"kind": notice[0], "text": notice[1]}] if notice else [],
        "page_title": "",
    }
    base.update(context)
    html = state.templates.get_template(template).render(base)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    # Pages show personal data: never from a shared cache, never framed elsewhere.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


# -- mounting ----------------------------------------------------------------------------


def build_routes() -> tuple[Route, ...]:
    """Every console route, in one visible list (views register nothing themselves)."""
    from bot.console import engineer, manager, qa, signin, users

    return (
        *signin.ROUTES,
        *engineer.ROUTES,
        *qa.ROUTES,
        *manager.ROUTES,
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


def setup_console(app: web.Application) -> None:
    """Mount the console on the bot's app at ``/console`` and make the engineer API
    (``/api``) accept its sign-in (`bot.console.api_auth.session_actor`)."""
    from bot.console.api_auth import session_actor

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
    from bot.accounts import seed_demo_accounts

    lines = await seed_demo_accounts(services.sessionmaker)
    print(f"  console (sign in):     {services.settings.base_url}{PREFIX}/", flush=True)
    for line in lines:
        print(f"    {line}", flush=True)
