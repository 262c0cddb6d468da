"""The engineer-facing JSON API: a thin layer over `TicketService`.

Every route answers JSON.  The acting staff member comes from the app's
`ACTOR_RESOLVER` (by default the ``X-Staff-No`` header: there is no sign-in
before the console issue; the console swaps in its session cookie).  Errors
are ``{"error": code, "message": …, …details}`` with these statuses:

=====  =====================================================================
400    malformed JSON or a missing / mistyped field (the field is named)
401    no acting staff member (missing or unknown ``X-Staff-No``)
403    not the ticket's engineer, or a manager-only action
404    no such ticket
409    not possible in the ticket's state (``wrong_status``,
       ``backup_confirmation_required`` — the warning is sent first —,
       ``presend_confirmation_required`` — resend with ``override_reason`` —,
       ``customer_waiting``, ``extension_limit`` …)
422    the pre-send check refused the draft (``presend_refused``: spans and a
       compliant suggestion in ``presend``) or it repeats the suggestion request
=====  =====================================================================

Routes (``{n}`` is the ticket number, e.g. ``PS-20261123-0007``):

- ``GET  /api/me`` · ``GET /api/staff`` · ``GET /api/reminders[?since=ISO]``
- ``GET  /api/tickets[?status=active|open|accepted|resolved|closed&engineer=工号]``
- ``GET  /api/tickets/{n}`` (transcript, events, state, suggested drafts, deadlines)
- ``GET  /api/tickets/{n}/scripts`` (script lines rendered for this ticket)
- ``POST /api/tickets/{n}/presend`` ``{text}`` (check only, for as-you-type)
- ``POST /api/tickets/{n}/accept``
- ``POST /api/tickets/{n}/messages`` ``{text, override_reason?, prompted_by?}``
- ``POST /api/tickets/{n}/backup-warning``
- ``POST /api/tickets/{n}/backup-confirmation`` ``{note}``
- ``POST /api/tickets/{n}/remote`` ``{tool?}``
- ``POST /api/tickets/{n}/solution`` ``{summary, onsite_km?}``
- ``POST /api/tickets/{n}/onsite`` ``{distance_km}``
- ``POST /api/tickets/{n}/extension`` ``{call_note}`` (manager)
- ``POST /api/tickets/{n}/escalate`` ``{reason, notify_customer?}``
- ``POST /api/tickets/{n}/stable-run`` ``{intermittent?}``
- ``POST /api/tickets/{n}/resolve`` ``{ask_suggestion?}``
- ``POST /api/tickets/{n}/close`` ``{summary?}``
- ``POST /api/tickets/{n}/archive`` ``{duplicate_of?}``
- ``POST /api/tickets/{n}/reassign`` ``{to}`` (manager)
- ``POST /api/tickets/{n}/rma`` ``{action: start|returned, vendor?}``
- ``POST /api/tickets/{n}/warranty`` ``{signed_for: YYYY-MM-DD, exclusions: [code…]}``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.context import ACTOR_RESOLVER, SERVICES, Actor, Services
from bot.http import (
    ApiError,
    bool_field,
    date_field,
    json_response,
    number_field,
    read_json,
    required_str,
    str_field,
    str_list_field,
)
from bot.tickets import ActionResult, TicketError

STAFF_HEADER = "X-Staff-No"

_STATUS_OF_ERROR = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "confirm": 409,
    "refused": 422,
}

TICKET_STATUSES = ("active", "open", "accepted", "resolved", "closed")


async def header_actor(request: web.Request) -> Actor | None:
    """The default actor resolver: the roster row named by the ``X-Staff-No`` header."""
    staff_no = request.headers.get(STAFF_HEADER, "").strip()
    if not staff_no:
        return None
    engineer = await request.app[SERVICES].tickets.find_staff(staff_no)
    if engineer is None:
        return None
    return Actor(staff_no=engineer.staff_no, name=engineer.name, roles=tuple(engineer.roles))


async def _actor(request: web.Request) -> Actor:
    actor = await request.app[ACTOR_RESOLVER](request)
    if actor is None:
        raise ApiError(
            401, "unauthenticated", f"请求须指明操作人（{STAFF_HEADER} 头，花名册中的工号）"
        )
    return actor


# Roles that read every ticket (SPEC §1: QA reads all transcripts, a manager
# everything); an engineer reads only the tickets assigned to them.
_READS_ALL = frozenset({"manager", "qa", "admin"})


def _reads_all(actor: Actor) -> bool:
    return bool(_READS_ALL.intersection(actor.roles))


async def _visible_ticket(request: web.Request, actor: Actor) -> dict[str, Any]:
    """The ticket view, or 404 when the actor may not read it (no existence leak)."""
    number = request.match_info["number"]
    try:
        detail = await request.app[SERVICES].views.ticket(number)
    except TicketError as exc:
        raise _translate(exc) from None
    engineer = detail.get("engineer") or {}
    if not _reads_all(actor) and engineer.get("staff_no") != actor.staff_no:
        raise ApiError(404, "ticket_not_found", f"没有工单 {number}")
    return detail


def _translate(exc: TicketError) -> ApiError:
    return ApiError(_STATUS_OF_ERROR[exc.kind], exc.code, exc.message, **exc.details)


ActionCall = Callable[[Services, str, Actor, dict[str, Any]], Awaitable[ActionResult]]


def _action(call: ActionCall) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a service call as a handler: actor, JSON body, error translation."""

    async def handler(request: web.Request) -> web.Response:
        actor = await _actor(request)
        # An action without options may come without a body.
        data = await read_json(request) if request.can_read_body else {}
        services = request.app[SERVICES]
        try:
            result = await call(services, request.match_info["number"], actor, data)
        except TicketError as exc:
            raise _translate(exc) from None
        return json_response(result.to_dict())

    return handler


# -- reading ------------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return json_response(
        {"staff_no": actor.staff_no, "name": actor.name, "roles": list(actor.roles)}
    )


async def staff(request: web.Request) -> web.Response:
    await _actor(request)
    return json_response({"staff": await request.app[SERVICES].views.staff()})


async def list_tickets(request: web.Request) -> web.Response:
    actor = await _actor(request)
    status = request.query.get("status")
    if status is not None and status not in TICKET_STATUSES:
        raise ApiError(
            400, "bad_query", f"status must be one of {', '.join(TICKET_STATUSES)}", field="status"
        )
    engineer = request.query.get("engineer") or None
    if not _reads_all(actor):
        engineer = actor.staff_no
    tickets = await request.app[SERVICES].views.list_tickets(status=status, staff_no=engineer)
    return json_response({"tickets": tickets})


async def ticket_detail(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return json_response(await _visible_ticket(request, actor))


async def ticket_scripts(request: web.Request) -> web.Response:
    await _visible_ticket(request, await _actor(request))
    try:
        lines = await request.app[SERVICES].views.script_lines(request.match_info["number"])
    except TicketError as exc:
        raise _translate(exc) from None
    return json_response({"lines": lines})


async def presend(request: web.Request) -> web.Response:
    await _visible_ticket(request, await _actor(request))
    data = await read_json(request)
    text = required_str(data, "text", max_len=request.app[SERVICES].settings.max_text_chars)
    try:
        result = await request.app[SERVICES].tickets.check_draft(request.match_info["number"], text)
    except TicketError as exc:
        raise _translate(exc) from None
    return json_response(result.to_dict())


async def reminders(request: web.Request) -> web.Response:
    actor = await _actor(request)
    since_raw = request.query.get("since")
    since = None
    if since_raw:
        try:
            since = datetime.fromisoformat(since_raw)
        except ValueError:
            raise ApiError(
                400, "bad_query", "since must be an ISO 8601 time", field="since"
            ) from None
    items = await request.app[SERVICES].views.reminders_for(actor.staff_no, since)
    return json_response({"reminders": items})


# -- actions --------------------------------------------------------------------------


def _limit(services: Services) -> int:
    return services.settings.max_text_chars


async def _accept(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.accept(n, a.staff_no)


async def _send(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.send_draft(
        n,
        a.staff_no,
        required_str(d, "text", max_len=_limit(s)),
        override_reason=str_field(d, "override_reason", required=False, max_len=500),
        prompted_by=str_field(d, "prompted_by", required=False, max_len=64),
    )


async def _backup_warning(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.send_backup_warning(n, a.staff_no)


async def _backup_confirmation(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.confirm_backup(n, a.staff_no, required_str(d, "note", max_len=500))


async def _remote(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.start_remote(
        n, a.staff_no, str_field(d, "tool", required=False, max_len=64)
    )


async def _solution(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    onsite = number_field(d, "onsite_km") if d.get("onsite_km") is not None else None
    return await s.tickets.give_solution(
        n, a.staff_no, required_str(d, "summary", max_len=_limit(s)), onsite
    )


async def _onsite(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.schedule_onsite(n, a.staff_no, number_field(d, "distance_km"))


async def _extension(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.grant_extension(
        n, a.staff_no, required_str(d, "call_note", max_len=1000)
    )


async def _escalate(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.escalate(
        n,
        a.staff_no,
        required_str(d, "reason", max_len=1000),
        notify_customer=bool_field(d, "notify_customer", True),
    )


async def _stable_run(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    intermittent = bool_field(d, "intermittent", False) if "intermittent" in d else None
    return await s.tickets.start_stable_run(n, a.staff_no, intermittent)


async def _resolve(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.resolve(
        n, a.staff_no, ask_suggestion=bool_field(d, "ask_suggestion", True)
    )


async def _close(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.close(
        n, a.staff_no, str_field(d, "summary", required=False, max_len=_limit(s))
    )


async def _archive(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.archive(
        n, a.staff_no, str_field(d, "duplicate_of", required=False, max_len=64)
    )


async def _reassign(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.reassign(n, a.staff_no, required_str(d, "to", max_len=32))


async def _rma(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.rma(
        n,
        a.staff_no,
        required_str(d, "action", max_len=16),
        str_field(d, "vendor", required=False, max_len=200),
    )


async def _warranty(s: Services, n: str, a: Actor, d: dict[str, Any]) -> ActionResult:
    return await s.tickets.assess_warranty(
        n, a.staff_no, date_field(d, "signed_for"), str_list_field(d, "exclusions")
    )


# Lifecycle actions in the order a ticket meets them.
ACTIONS: tuple[tuple[str, ActionCall], ...] = (
    ("accept", _accept),
    ("messages", _send),
    ("backup-warning", _backup_warning),
    ("backup-confirmation", _backup_confirmation),
    ("remote", _remote),
    ("warranty", _warranty),
    ("solution", _solution),
    ("onsite", _onsite),
    ("extension", _extension),
    ("escalate", _escalate),
    ("rma", _rma),
    ("stable-run", _stable_run),
    ("resolve", _resolve),
    ("close", _close),
    ("archive", _archive),
    ("reassign", _reassign),
)


def setup(app: web.Application) -> None:
    """Mount the engineer API under ``/api``."""
    router = app.router
    router.add_get("/api/me", me)
    router.add_get("/api/staff", staff)
    router.add_get("/api/reminders", reminders)
    router.add_get("/api/tickets", list_tickets)
    router.add_get("/api/tickets/{number}", ticket_detail)
    router.add_get("/api/tickets/{number}/scripts", ticket_scripts)
    router.add_post("/api/tickets/{number}/presend", presend)
    for name, call in ACTIONS:
        router.add_post(f"/api/tickets/{{number}}/{name}", _action(call))
