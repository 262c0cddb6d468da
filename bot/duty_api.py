"""The on-call duty JSON API (seed 003): the rota, the month's duty log, the hand-over.

The acting staff member is resolved as for the engineer API (`bot.api`):

- ``GET  /api/duty[?month=YYYY-MM]`` — the month's engineer on duty, the rota from
  that month for six months, its duty log (`bot.duty.DutyBook.month_summary`) and
  its hand-over, if submitted;
- ``POST /api/duty/rota`` ``{month, staff_no, note?}`` — a manager puts an engineer
  on duty for a month (403 otherwise; 400 naming the field for a bad month or 工号);
- ``POST /api/duty/handovers`` ``{month, notes?}`` — the month's engineer on duty (or
  a manager) hands the duty log over to next month's (409 when done already).

Calls and visits are recorded on their ticket: ``POST /api/tickets/{n}/contact``.
"""

from __future__ import annotations

from aiohttp import web

from bot.context import ACTOR_RESOLVER, SERVICES, Actor
from bot.duty import DutyBook, DutyError, parse_month, this_month
from bot.http import ApiError, json_response, read_json, str_field
from storage.models import EngineerRole


async def _actor(request: web.Request) -> Actor:
    actor = await request.app[ACTOR_RESOLVER](request)
    if actor is None:
        raise ApiError(401, "unauthenticated", "请求须指明操作人（花名册中的工号）")
    return actor


def _book(request: web.Request) -> DutyBook:
    return DutyBook(request.app[SERVICES].sessionmaker)


def _refusal(exc: DutyError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, **exc.details())


async def duty(request: web.Request) -> web.Response:
    await _actor(request)
    book = _book(request)
    try:
        month = parse_month(request.query.get("month") or this_month(request.app[SERVICES].now()))
    except DutyError as exc:
        raise _refusal(exc) from None
    summary = await book.month_summary(month)
    return json_response(
        {
            **summary,
            "rota": await book.rota(month),
            "handover": await book.handover(month),
        }
    )


async def set_rota(request: web.Request) -> web.Response:
    actor = await _actor(request)
    if not actor.has_role(EngineerRole.MANAGER.value):
        raise ApiError(403, "manager_required", "排班须由管理人员操作")
    data = await read_json(request)
    note = str_field(data, "note", required=False, max_len=500)
    try:
        row = await _book(request).set_rota(
            data.get("month"),
            data.get("staff_no"),
            by=actor.staff_no,
            note=note or None,
        )
    except DutyError as exc:
        raise _refusal(exc) from None
    return json_response(row)


async def submit_handover(request: web.Request) -> web.Response:
    actor = await _actor(request)
    data = await read_json(request)
    services = request.app[SERVICES]
    try:
        handed = await _book(request).submit_handover(
            data.get("month"),
            data.get("notes"),
            by=actor.staff_no,
            manager=actor.has_role(EngineerRole.MANAGER.value),
            now=services.now(),
        )
    except DutyError as exc:
        raise _refusal(exc) from None
    return json_response(handed, status=201)


def setup(app: web.Application) -> None:
    """Mount the duty API under ``/api/duty``."""
    app.router.add_get("/api/duty", duty)
    app.router.add_post("/api/duty/rota", set_rota)
    app.router.add_post("/api/duty/handovers", submit_handover)
