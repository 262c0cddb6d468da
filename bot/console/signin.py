"""Sign-in, sign-out and the home page that sends each role to its own view."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from aiohttp import web

from bot.accounts import authenticate
from bot.console import throttle
from bot.console.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Route,
    cookie_secure,
    current_user,
    end_sessions,
    now_s,
    safe_next,
    set_session_cookie,
)
from bot.console.pages import render, services_of, state_of
from bot.console.security import LOGIN_TOKEN_TTL_S
from bot.http import read_form

HOME_OF_ROLE = {"engineer": "/queue", "qa": "/qa", "manager": "/manager", "admin": "/manager"}
MAX_FIELD = 200


async def _login_page(
    request: web.Request, *, error: str = "", username: str = "", status: int = 200
) -> web.Response:
    state = state_of(request)
    signer = await state.signer(services_of(request))
    nonce = secrets.token_urlsafe(16)
    response = await render(
        request,
        "login.html",
        status=status,
        page_title="登录",
        error=error,
        username=username,
        next_url=safe_next(request.query.get("next"), state.prefix),
        login_token=signer.csrf_token(f"login:{nonce}"),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        signer.login_cookie(nonce, now_s()),
        max_age=LOGIN_TOKEN_TTL_S,
        path=state.prefix,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    """The sign-in form (public)."""
    return await _login_page(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the form's token and the password; on success set the session cookie."""
    state = state_of(request)
    services = services_of(request)
    signer = await state.signer(services)
    form = await read_form(request)
    username = str(form.get("username", ""))[:MAX_FIELD].strip()
    password = str(form.get("password", ""))[:MAX_FIELD]
    cookie = request.cookies.get(LOGIN_COOKIE)
    nonce = signer.read_login_cookie(cookie, now_s()) if cookie else None
    token = form.get("csrf_token")
    if nonce is None or not signer.csrf_ok(
        f"login:{nonce}", token if isinstance(token, str) else None
    ):
        return await _login_page(
            request, error="登录页面已过期，请重新输入后登录。", username=username, status=403
        )
    address = request.remote
    verdict = await throttle.attempt(
        services.tickets,
        (throttle.account_key(username), throttle.address_key(address)),
        datetime.fromtimestamp(now_s(), UTC),
    )
    if not verdict.allowed:
        minutes = max(1, -(-verdict.retry_after_s // 60))
        response = await _login_page(
            request,
            error=f"登录失败次数过多，请 {minutes} 分钟后再试，或请管理员解除锁定。",
            username=username,
            status=429,
        )
        response.headers["Retry-After"] = str(verdict.retry_after_s)
        return response
    user_id = await authenticate(services.sessionmaker, username, password) if username else None
    if user_id is None:
        return await _login_page(
            request, error="用户名或密码不正确。", username=username, status=401
        )
    await throttle.succeeded(services.tickets, username, address)
    session = signer.new_session(user_id, now_s())
    target = safe_next(str(form.get("next", "")), state.prefix)
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, request, signer.session_cookie(session), signer.session_ttl_s)
    response.del_cookie(LOGIN_COOKIE, path=state.prefix)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session here and everywhere else this account signed in."""
    state = state_of(request)
    await end_sessions(services_of(request).sessionmaker, current_user(request).id)
    response = web.HTTPSeeOther(f"{state.prefix}/login?notice=signed_out")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    """``/console/``: each role's own first page."""
    user = current_user(request)
    raise web.HTTPFound(f"{state_of(request).prefix}{HOME_OF_ROLE[user.role]}")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/login", login_form, "console.login", public=True),
    Route("POST", "/login", login_submit, "console.login_submit", public=True),
    Route("POST", "/logout", logout, "console.logout"),
    Route("GET", "/", home, "console.home"),
)
