"""Who is signed in, what each role may open, and the guard every console request passes.

The guard (`console_guard`, the console sub-app's middleware) runs before
every handler under ``/console``:

1. Static files and the sign-in form are public; everything else needs the
   signed session cookie of an enabled account. Without one a page redirects
   to the sign-in form (remembering where it was going) and an API route
   (``/console/api/…``) answers 401 JSON.
2. Every state-changing request (POST …) carries the CSRF token of its
   session (form field ``csrf_token`` or header ``X-CSRF-Token``); a missing
   or wrong token is 403 before the handler runs. The sign-in form has its
   own token, tied to a short-lived cookie.
3. The route's roles (`Route.roles`) are checked: 403 for any other role.

Per-object scoping (an engineer sees only their own tickets) is done by the
views, which know the object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from aiohttp import web
from markupsafe import escape
from multidict import MultiDictProxy
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.security import SessionData
from bot.context import SETTINGS
from bot.http import ApiError, json_response, read_form
from storage.account_models import User
from storage.models import Engineer

log = logging.getLogger("bot.console")

Role = Literal["engineer", "qa", "manager", "admin"]
ROLES: tuple[Role, ...] = ("engineer", "qa", "manager", "admin")
ROLE_LABELS: Mapping[str, str] = {
    "engineer": "运维工程师",
    "qa": "质检",
    "manager": "管理人员",
    "admin": "管理员",
}
ALL_ROLES: frozenset[str] = frozenset(ROLES)
TICKET_ROLES: frozenset[str] = frozenset({"engineer", "manager", "admin"})
QA_ROLES: frozenset[str] = frozenset({"qa", "manager", "admin"})
MANAGER_ROLES: frozenset[str] = frozenset({"manager", "admin"})
ADMIN_ROLES: frozenset[str] = frozenset({"admin"})

SESSION_COOKIE = "aftersales_session"
LOGIN_COOKIE = "aftersales_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A signed-in account, detached from the database session that loaded it."""

    id: int
    username: str
    role: Role
    display_name: str
    # The roster row the account acts as (its 工号 goes on every action); None
    # for an admin without one.
    engineer_id: int | None = None
    staff_no: str | None = None

    @property
    def sees_all_tickets(self) -> bool:
        return self.role in MANAGER_ROLES

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGER_ROLES

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


@dataclass(frozen=True, slots=True)
class Route:
    """One console route: method, path under the prefix, handler, the roles it admits.

    `api` routes answer JSON (401/403 as JSON too); `public` ones need no session.
    """

    method: str
    path: str
    handler: Handler
    name: str
    roles: frozenset[str] = ALL_ROLES
    api: bool = False
    public: bool = False


CONSOLE_USER = web.RequestKey("console_user", ConsoleUser)
CONSOLE_SESSION = web.RequestKey("console_session", SessionData)


def now_s() -> float:
    """Wall-clock seconds for cookie ages: deliberately not the app's business clock,
    which tests move by days to fire timers."""
    return time.time()


def current_user(request: web.Request) -> ConsoleUser:
    """The signed-in account (the guard guarantees one on every non-public route)."""
    return request[CONSOLE_USER]


def safe_next(target: str | None, prefix: str) -> str:
    """Where to go after sign-in: only a path inside the console (no open redirect)."""
    home = f"{prefix}/"
    if not target or not target.startswith(home) or "\\" in target or "//" in target:
        return home
    parts = urlsplit(target)
    return home if parts.scheme or parts.netloc else target


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """An error answer of a console API route, shaped like the engineer API's."""
    return json_response(ApiError(status, code, message, **extra).to_dict(), status=status)


def refusal(
    request: web.Request, prefix: str, status: int, code: str, message: str
) -> web.Response:
    """A 401/403 in the request's own terms: JSON for the API, a short page otherwise."""
    if request.path.startswith(f"{prefix}/api/"):
        return json_error(status, code, message)
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{status} · 工作台</title>"
        f'<link rel="stylesheet" href="{prefix}/static/console.css"></head>'
        f'<body><main class="page"><section class="card signin"><h1>{status}</h1>'
        f'<p role="alert">{escape(message)}</p><p><a href="{prefix}/">返回工作台</a></p>'
        "</section></main></body></html>"
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


async def load_user(
    sessionmaker: async_sessionmaker[AsyncSession], session: SessionData
) -> ConsoleUser | None:
    """The account a session belongs to, or None when gone, disabled or signed out since."""
    async with sessionmaker() as db:
        row = (
            await db.execute(
                select(User, Engineer.staff_no)
                .outerjoin(Engineer, User.engineer_id == Engineer.id)
                .where(User.id == session.user_id)
            )
        ).first()
    if row is None:
        return None
    user, staff_no = row
    if user.disabled:
        return None
    valid_after = user.sessions_valid_after
    if valid_after is not None and session.issued_at_ms <= int(valid_after.timestamp() * 1000):
        return None
    return ConsoleUser(
        id=user.id,
        username=user.username,
        role=user.role.value,
        display_name=user.display_name,
        engineer_id=user.engineer_id,
        staff_no=staff_no,
    )


async def end_sessions(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> None:
    """Void every session of an account signed before now (sign-out)."""
    async with sessionmaker() as db, db.begin():
        user = await db.get(User, user_id)
        if user is not None:
            user.sessions_valid_after = datetime.fromtimestamp(now_s(), UTC)


# The console's upload endpoints (`bot.console.media`) end so.
UPLOAD_SUFFIX = "/attachments"


async def submitted_csrf(request: web.Request) -> str | None:
    """The CSRF token a request carries: header first, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.path.endswith(UPLOAD_SUFFIX):
        # An upload's body is the file (read by its own handler, not as a form):
        # its token travels in the header only.
        return None
    if request.content_type in FORM_TYPES:
        form: MultiDictProxy[Any] = await read_form(request)
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def sign_in_redirect(request: web.Request, prefix: str) -> web.HTTPException:
    target = request.path_qs if request.method in SAFE_METHODS else f"{prefix}/"
    return web.HTTPSeeOther(f"{prefix}/login?next={quote(target, safe='')}")


def set_session_cookie(
    response: web.StreamResponse, request: web.Request, value: str, max_age: int
) -> None:
    # Path "/" so the engineer API under /api sees the same sign-in.
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(request),
    )


def cookie_secure(request: web.Request) -> bool:
    """The Secure flag of the console's cookies: forced by ``AFTERSALES_SECURE_COOKIES``,
    else whether the request came over HTTPS (as a trusted proxy says, `bot.proxy`)."""
    return request.config_dict[SETTINGS].secure_cookies or request.secure
