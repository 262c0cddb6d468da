"""The engineer API (``/api``) signed in through the console's session cookie.

Installed as the app's `ACTOR_RESOLVER` by `bot.console.app.setup`: the acting staff
member of an ``/api`` request is the roster row of the signed-in account.
A state-changing request must carry the session's CSRF token in
``X-CSRF-Token`` (else 403), exactly as under ``/console``.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.console.auth import SAFE_METHODS, SESSION_COOKIE, load_user, now_s, submitted_csrf
from bot.console.pages import ConsoleState
from bot.context import SERVICES, Actor, ActorResolver
from bot.http import ApiError
from storage.models import Engineer


def session_actor(state: ConsoleState) -> ActorResolver:
    """A resolver reading the session cookies that `state`'s signer made."""

    async def resolve(request: web.Request) -> Actor | None:
        return await _actor(state, request)

    return resolve


async def _actor(state: ConsoleState, request: web.Request) -> Actor | None:
    """The roster row of the signed-in account, or None (the API answers 401)."""
    services = request.config_dict[SERVICES]
    signer = await state.signer(services)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = signer.read_session(cookie, now_s()) if cookie else None
    if session is None:
        return None
    user = await load_user(services.sessionmaker, session)
    if user is None or user.engineer_id is None:
        return None
    if request.method not in SAFE_METHODS and not signer.csrf_ok(
        session.nonce, await submitted_csrf(request)
    ):
        raise ApiError(403, "csrf", "缺少或错误的 CSRF 令牌（X-CSRF-Token）")
    async with services.sessionmaker() as db:
        engineer = await db.scalar(select(Engineer).where(Engineer.id == user.engineer_id))
    if engineer is None:
        return None
    return Actor(staff_no=engineer.staff_no, name=engineer.name, roles=tuple(engineer.roles))
