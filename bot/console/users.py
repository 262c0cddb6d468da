"""Account administration (admin only): list, create, disable and enable accounts,
and lift sign-in lockouts (`bot.console.throttle`).

The same rules as ``aftersales user add`` (`bot.accounts.create_account`);
disabling an account also ends its sessions at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import select

from bot.accounts import AccountError, NewAccount, create_account
from bot.console import throttle
from bot.console.auth import ADMIN_ROLES, ROLE_LABELS, Route, current_user, now_s
from bot.console.pages import render, services_of, state_of
from bot.http import read_form
from bot.validation import Invalid, parse_id
from storage.account_models import User
from storage.models import Engineer

MAX_FIELD = 200


async def _page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    services = services_of(request)
    async with services.sessionmaker() as db:
        rows = (
            await db.execute(
                select(User, Engineer.staff_no)
                .outerjoin(Engineer, User.engineer_id == Engineer.id)
                .order_by(User.username)
            )
        ).all()
    now = datetime.fromtimestamp(now_s(), UTC)
    locks = [
        {
            "key": row.key,
            "account": row.key.startswith(throttle.ACCOUNT),
            "name": row.key.partition(":")[2],
            "failures": row.failures,
            "until": row.locked_until,
        }
        for row in await throttle.locked_keys(services.tickets, now)
    ]
    return await render(
        request,
        "users.html",
        status=status,
        page_title="账号",
        accounts=[{"user": user, "staff_no": staff_no} for user, staff_no in rows],
        role_labels=ROLE_LABELS,
        signin_locks=locks,
        error=error,
    )


async def users_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


async def create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)

    def field(name: str) -> str:
        return str(form.get(name, "")).strip()[:MAX_FIELD]

    account = NewAccount(
        username=field("username"),
        role=field("role"),
        password=str(form.get("password", ""))[:MAX_FIELD],
        name=field("name") or None,
        staff_no=field("staff_no") or None,
    )
    services = services_of(request)
    try:
        async with services.tickets.transaction() as db:
            await db.run_sync(create_account, account)
    except AccountError as exc:
        return await _page(request, error=str(exc), status=400)
    raise web.HTTPSeeOther(f"{state_of(request).prefix}/admin/users?notice=user_created")


async def toggle(request: web.Request) -> web.StreamResponse:
    """Disable (ending its sessions) or enable an account; never one's own."""
    try:
        user_id = parse_id(request.match_info["user"])
    except Invalid:
        raise web.HTTPNotFound() from None
    if user_id == current_user(request).id:
        return await _page(request, error="不能停用自己的账号。", status=400)
    form = await read_form(request)
    disable = form.get("disabled") == "1"
    async with services_of(request).tickets.transaction() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise web.HTTPNotFound()
        user.disabled = disable
        if disable:
            user.sessions_valid_after = datetime.now(UTC)
    raise web.HTTPSeeOther(f"{state_of(request).prefix}/admin/users?notice=user_updated")


async def unlock(request: web.Request) -> web.StreamResponse:
    """Lift the sign-in lockout of an account or a client address."""
    form = await read_form(request)
    key = str(form.get("key", ""))[: throttle.MAX_KEY]
    if not key.startswith((throttle.ACCOUNT, throttle.ADDRESS)):
        return await _page(request, error="要解除锁定的账号或地址无效。", status=400)
    await throttle.unlock(services_of(request).tickets, key, current_user(request).username)
    raise web.HTTPSeeOther(f"{state_of(request).prefix}/admin/users?notice=signin_unlocked")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/admin/users", users_page, "console.admin.users", roles=ADMIN_ROLES),
    Route("POST", "/admin/users", create, "console.admin.users_create", roles=ADMIN_ROLES),
    Route(
        "POST", "/admin/users/{user}/state", toggle, "console.admin.users_state", roles=ADMIN_ROLES
    ),
    Route("POST", "/admin/users/unlock", unlock, "console.admin.users_unlock", roles=ADMIN_ROLES),
)
