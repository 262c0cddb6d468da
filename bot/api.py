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
- ``GET  /api/tickets[?status=active|open|accepted|resolved|closed&engineer=工号&q=words]``
  (``q``: full-text search over the ticket, its chat lines and its archived solution)
- ``GET  /api/search?q=words`` (tickets, chat lines with snippets, archived solutions;
  an engineer's own tickets and the whole archive, QA and managers everything)
- ``GET  /api/tickets/{n}`` (transcript, events, state, suggested drafts, deadlines, every
  timer with its words under ``timers``, the visit, checklists, stable run and return
  shipments under ``delivery``)
- ``GET  /api/tickets/{n}/scripts`` (script lines rendered for this ticket)
- ``POST /api/tickets/{n}/presend`` ``{text}`` (check only, for as-you-type)

and one ``POST /api/tickets/{n}/<action>`` per action of `bot.lifecycle.ACTIONS`,
its JSON body the action's body model:

- ``POST /api/tickets/{n}/accept``
- ``POST /api/tickets/{n}/messages`` ``{text, override_reason?, prompted_by?}``
- ``POST /api/tickets/{n}/backup-warning``
- ``POST /api/tickets/{n}/backup-confirmation`` ``{note}``
- ``POST /api/tickets/{n}/remote`` ``{tool?}``
- ``POST /api/tickets/{n}/solution`` ``{summary, onsite_km?}``
- ``POST /api/tickets/{n}/onsite`` ``{distance_km, agreed_on?}`` (over 300 km: agreed_on)
- ``POST /api/tickets/{n}/onsite-reschedule`` ``{new_date, reason?}`` (sends the line)
- ``POST /api/tickets/{n}/onsite-arrival`` ``{note?}``
- ``POST /api/tickets/{n}/extension-request`` ``{reason}`` (the managers are reminded)
- ``POST /api/tickets/{n}/extension`` ``{call_note}`` (manager)
- ``POST /api/tickets/{n}/escalate`` ``{reason, notify_customer?}``
- ``POST /api/tickets/{n}/stable-run`` ``{intermittent?}``
- ``POST /api/tickets/{n}/stable-run-waiver`` ``{reason}`` (manager)
- ``POST /api/tickets/{n}/checklist`` ``{checklist: onsite|workshop|return, items: [code…]}``
- ``POST /api/tickets/{n}/shipment`` ``{carrier, tracking_no, ship_date?}`` (sends the line)
- ``POST /api/tickets/{n}/resolve`` ``{ask_suggestion?}`` (``409 stable_run_required``,
  ``stable_run_pending``, ``checklist_incomplete`` until delivery may proceed)
- ``POST /api/tickets/{n}/close`` ``{process, test_report, attachments?, summary?}``
  (the solution record: refused without process or test report, naming the field)
- ``POST /api/tickets/{n}/archive`` ``{problem?, duplicate_of?}`` (a duplicate names an
  archived ticket)
- ``POST /api/tickets/{n}/reassign`` ``{to}`` (manager)
- ``POST /api/tickets/{n}/rma`` ``{action: start|promise|returned, vendor?, promised_on?}``
- ``POST /api/tickets/{n}/warranty`` ``{signed_for?, serial_no?, model?, proof_message_id?,
  proof_reference?, part?, exclusions: [code…]}`` (no proof: out of warranty)
- ``POST /api/tickets/{n}/contract`` ``{number, parts, signed_on, term_months}``
- ``POST /api/tickets/{n}/quote`` ``{amount, items}`` ·
  ``POST /api/tickets/{n}/quote-confirmation`` ``{message_id? | note?}``
- ``POST /api/tickets/{n}/repair`` ``{action: start|finish, path?: in_house|factory, old_parts?}``
- ``POST /api/tickets/{n}/loaner`` ``{action: sent|returned, serial_no?, model?}``
- ``POST /api/tickets/{n}/fault-level`` ``{level, reason}`` (seed 002: the clocks follow)
- ``POST /api/tickets/{n}/complaint`` ``{action: open|resolve, note?}``
- ``POST /api/tickets/{n}/contact`` ``{kind: call|visit, duration_min, result}``

The on-call rota and hand-over are ``/api/duty`` (`bot.duty_api`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot import search
from bot.context import ACTOR_RESOLVER, SERVICES, Actor
from bot.http import ApiError, json_response, query_model, read_json, required_str
from bot.lifecycle import ACTIONS, Action, TicketError, parse_body
from bot.validation_models import Model, Moment
from storage.models import EngineerRole

STAFF_HEADER = "X-Staff-No"


class RemindersQuery(Model):
    """``GET /api/reminders?since=…``: a time with an offset, in 1970–2100."""

    since: Moment | None = None


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
_READS_ALL = frozenset({EngineerRole.MANAGER, EngineerRole.QA, EngineerRole.ADMIN})


def _reads_all(actor: Actor) -> bool:
    return any(role.value in actor.roles for role in _READS_ALL)


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
    return ApiError(exc.status, exc.code, exc.message, **exc.details)


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
    services = request.app[SERVICES]
    query = request.query.get("q", "").strip()
    ids = None
    if query:
        scope = await _search_scope(request, actor)
        ids = await search.matching_ticket_ids(services.sessionmaker, services.engine, query, scope)
    tickets = await services.views.list_tickets(status=status, staff_no=engineer, ids=ids)
    return json_response({"tickets": tickets})


async def _search_scope(request: web.Request, actor: Actor) -> search.Scope:
    if _reads_all(actor):
        return search.Scope(everything=True)
    engineer = await request.app[SERVICES].tickets.find_staff(actor.staff_no)
    return search.Scope(everything=False, engineer_id=engineer.id if engineer else None)


async def search_all(request: web.Request) -> web.Response:
    actor = await _actor(request)
    query = request.query.get("q", "").strip()
    if not query:
        raise ApiError(400, "bad_query", "q must name the words to search for", field="q")
    services = request.app[SERVICES]
    scope = await _search_scope(request, actor)
    results = await search.search(services.sessionmaker, services.engine, query, scope)
    return json_response(results.to_dict())


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
    since = query_model(request, RemindersQuery).since
    items = await request.app[SERVICES].views.reminders_for(actor.staff_no, since)
    return json_response({"reminders": items})


# -- actions --------------------------------------------------------------------------


def _action(action: Action[Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of one registered action: actor, typed body, error translation."""

    async def handler(request: web.Request) -> web.Response:
        actor = await _actor(request)
        services = request.app[SERVICES]
        # An action without options may come without a body.
        data = await read_json(request) if request.can_read_body else {}
        body = parse_body(action.body, data, text_limit=services.settings.max_text_chars)
        try:
            result = await services.tickets.run(
                action.name, request.match_info["number"], actor.staff_no, body
            )
        except TicketError as exc:
            raise _translate(exc) from None
        return json_response(result.to_dict())

    handler.__name__ = f"action_{action.name.replace('-', '_')}"
    return handler


def setup(app: web.Application) -> None:
    """Mount the engineer API under ``/api``."""
    router = app.router
    router.add_get("/api/me", me)
    router.add_get("/api/staff", staff)
    router.add_get("/api/reminders", reminders)
    router.add_get("/api/tickets", list_tickets)
    router.add_get("/api/search", search_all)
    router.add_get("/api/tickets/{number}", ticket_detail)
    router.add_get("/api/tickets/{number}/scripts", ticket_scripts)
    router.add_post("/api/tickets/{number}/presend", presend)
    for action in ACTIONS:
        router.add_post(
            f"/api/tickets/{{number}}/{action.name}", _action(action), name=f"api.{action.name}"
        )
