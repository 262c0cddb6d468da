"""The engineer's view: the queue with SLA state, the ticket page, its JSON endpoints.

Pages: ``/console/queue`` and ``/console/tickets/{number}``.  The JavaScript
of the ticket page (``static/console.js``) polls ``…/live`` for new lines and
the ticket's state, runs the pre-send check as the engineer types
(``…/presend``), sends drafts and runs the lifecycle actions, each a POST
with the session's CSRF token.  Every action is a `TicketService` call under
the signed-in account's 工号, so the console records exactly what the chat
API would.

Scoping: an engineer sees and acts on the tickets assigned to them only (any
other ticket is "not found"); a manager or admin sees every ticket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.console.auth import (
    TICKET_ROLES,
    ConsoleUser,
    Handler,
    Route,
    current_user,
    json_error,
)
from bot.console.pages import label_context, render, services_of, state_of
from bot.console.sla import SlaBadge, countdown
from bot.context import Services
from bot.http import ApiError, read_json, str_field
from bot.lifecycle import ACTIONS, Action, TicketError, TimerKind, parse_body
from compliance.reports.summary import RULE_TITLES
from scripts_library import EVENT_LABELS, STATUS_LABELS
from storage.models import EventKind, Message, Ticket, TicketStatus, Timer

OPENED = TicketStatus.OPENED.value
# Accepted and being worked on.
WORKING: frozenset[str] = frozenset({TicketStatus.ACCEPTED.value, TicketStatus.IN_PROGRESS.value})
# Every status but closed.
ACTIVE: frozenset[str] = frozenset(s.value for s in TicketStatus if s is not TicketStatus.CLOSED)

# The steps the ticket page shows between the lines of the conversation.
TIMELINE: frozenset[EventKind] = frozenset(
    {
        EventKind.TICKET_OPENED,
        EventKind.TICKET_ACCEPTED,
        EventKind.ASSIGNED,
        EventKind.REASSIGNED,
        EventKind.BACKUP_WARNING_SENT,
        EventKind.BACKUP_CONFIRMED,
        EventKind.REMOTE_LOGIN,
        EventKind.SOLUTION_GIVEN,
        EventKind.EXTENSION_REQUESTED,
        EventKind.EXTENSION_GRANTED,
        EventKind.ESCALATED,
        EventKind.WARRANTY_ASSESSED,
        EventKind.RESOLVED,
        EventKind.CLOSED,
        EventKind.SATISFACTION_RATED,
    }
)

# The timers behind the three clocks an engineer watches.
CLOCK_TIMERS = (
    TimerKind.ACCEPT_ENGINEER,
    TimerKind.SOLUTION_DUE,
    TimerKind.EXTENSION_DUE,
    TimerKind.PROGRESS,
)


# -- SLA state ----------------------------------------------------------------------------


def _aware(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def sla_badges(
    ticket: Mapping[str, Any],
    timers: Sequence[tuple[str, datetime, str]],
    now: datetime,
    last_agent_at: datetime | None,
) -> list[SlaBadge]:
    """The three clocks an engineer watches: accept, solution, next progress update.

    `timers` are the ticket's (kind, due_at, status) rows of every status, so a
    deadline whose reminder already fired still shows — as breached.
    """
    times = ticket.get("times", {})
    status = ticket.get("status")
    by_kind: dict[str, list[tuple[datetime, str]]] = {}
    for kind, due_at, timer_status in timers:
        by_kind.setdefault(kind, []).append((due_at, timer_status))
    for rows in by_kind.values():
        rows.sort()

    accept_due = by_kind.get(TimerKind.ACCEPT_ENGINEER, [(None, "")])[0][0]
    accepted_at = _aware(times.get("accepted_at"))
    if accepted_at is not None:
        late = accept_due is not None and accepted_at > accept_due
        accept = countdown(
            "受理", accept_due, now, done=True, done_text="受理超时" if late else "已受理"
        )
    else:
        accept = countdown("受理", accept_due, now, done=status != OPENED)

    solution_rows = (
        by_kind.get(TimerKind.EXTENSION_DUE) or by_kind.get(TimerKind.SOLUTION_DUE) or []
    )
    solution_due = solution_rows[-1][0] if solution_rows else None
    if times.get("solution_given_at"):
        solution = countdown("方案", solution_due, now, done=True, done_text="已给方案")
    elif times.get("escalated_at"):
        solution = countdown("方案", solution_due, now, done=True, done_text="已升级技术部")
    elif accepted_at is None:
        solution = SlaBadge("方案", "none", "受理后计时")
    else:
        solution = countdown("方案", solution_due, now)

    progress_rows = by_kind.get(TimerKind.PROGRESS, [])
    active = status in ACTIVE and status != TicketStatus.RESOLVED.value
    progress = countdown("进度更新", None, now)
    if active:
        missed = [
            due
            for due, timer_status in progress_rows
            if timer_status != "pending"
            and due <= now
            and (last_agent_at is None or last_agent_at < due)
        ]
        upcoming = [due for due, timer_status in progress_rows if timer_status == "pending"]
        if missed:
            progress = countdown("进度更新", missed[-1], now)
        elif upcoming:
            progress = countdown("进度更新", upcoming[0], now)
    else:
        progress = countdown("进度更新", None, now, done=True, done_text="无需")
    return [accept, solution, progress]


async def _clock_rows(
    services: Services, numbers: Sequence[str]
) -> tuple[dict[str, list[tuple[str, datetime, str]]], dict[str, datetime]]:
    """Timers (every status) and the last agent line time of each ticket number."""
    timers: dict[str, list[tuple[str, datetime, str]]] = {n: [] for n in numbers}
    last_agent: dict[str, datetime] = {}
    if not numbers:
        return timers, last_agent
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(Ticket.number, Timer.kind, Timer.due_at, Timer.status)
            .join(Ticket, Timer.ticket_id == Ticket.id)
            .where(
                Ticket.number.in_(numbers),
                Timer.kind.in_(
                    (
                        TimerKind.ACCEPT_ENGINEER,
                        TimerKind.SOLUTION_DUE,
                        TimerKind.EXTENSION_DUE,
                        TimerKind.PROGRESS,
                    )
                ),
            )
        )
        for number, kind, due_at, status in rows:
            timers[number].append((kind, due_at, str(getattr(status, "value", status))))
        agent_rows = await db.execute(
            select(Ticket.number, func.max(Message.sent_at))
            .join(Ticket, Message.ticket_id == Ticket.id)
            .where(Ticket.number.in_(numbers), Message.role == "agent")
            .group_by(Ticket.number)
        )
        for number, at in agent_rows:
            if at is not None:
                last_agent[number] = at
    return timers, last_agent


async def queue_rows(services: Services, user: ConsoleUser) -> list[dict[str, Any]]:
    """The active tickets this account may see, each with its SLA badges; breached first."""
    staff_no = None if user.sees_all_tickets else user.staff_no
    if staff_no is None and not user.sees_all_tickets:
        return []
    tickets = await services.views.list_tickets(status="active", staff_no=staff_no)
    numbers = [t["number"] for t in tickets]
    timers, last_agent = await _clock_rows(services, numbers)
    now = services.now()
    rows = []
    for ticket in tickets:
        badges = sla_badges(ticket, timers[ticket["number"]], now, last_agent.get(ticket["number"]))
        rows.append({**ticket, "sla": badges, "breached": any(b.breached for b in badges)})
    rows.sort(key=lambda r: (not r["breached"], r["times"].get("opened_at") or ""))
    return rows


async def queue_page(request: web.Request) -> web.StreamResponse:
    """The queue: the engineer's own active tickets (a manager's: everyone's)."""
    user = current_user(request)
    services = services_of(request)
    rows = await queue_rows(services, user)
    return await render(
        request,
        "queue.html",
        page_title="我的工单" if not user.sees_all_tickets else "全部工单",
        rows=rows,
        show_engineer=user.sees_all_tickets,
        no_staff=user.staff_no is None and not user.sees_all_tickets,
        **label_context(services),
    )


async def queue_api(request: web.Request) -> web.StreamResponse:
    """The queue for live refresh: the rendered rows and the ticket numbers in it."""
    user = current_user(request)
    services = services_of(request)
    rows = await queue_rows(services, user)
    state = state_of(request)
    html = state.templates.get_template("_queue_rows.html").render(
        rows=rows,
        show_engineer=user.sees_all_tickets,
        prefix=state.prefix,
        **label_context(services),
    )
    return _json(
        {
            "tickets": [r["number"] for r in rows],
            "breached": [r["number"] for r in rows if r["breached"]],
            "rows_html": html,
        }
    )


# -- one ticket ---------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False)
    )


async def _visible_detail(request: web.Request) -> dict[str, Any]:
    """The ticket's detail if this account may see it; 404 otherwise (not 403:
    an engineer does not learn which numbers exist)."""
    services = services_of(request)
    user = current_user(request)
    number = request.match_info["number"]
    try:
        detail = await services.views.ticket(number)
    except TicketError as exc:
        if exc.kind == "not_found":
            raise web.HTTPNotFound(text=f"工单 {number} 不存在") from None
        raise
    engineer = detail.get("engineer") or {}
    if not user.sees_all_tickets and (
        user.staff_no is None or engineer.get("staff_no") != user.staff_no
    ):
        raise web.HTTPNotFound(text=f"工单 {number} 不存在或未分配给您")
    return detail


def actions_of(detail: Mapping[str, Any], user: ConsoleUser, max_extensions: int) -> dict[str, Any]:
    """Which lifecycle buttons are enabled now, and why a disabled one is disabled."""
    status = detail["status"]
    state = detail["state"]
    accepted = status in WORKING
    working = status == OPENED or accepted
    remote_hint = None
    if status == OPENED:
        remote_hint = "受理后才能开始远程"
    elif not accepted or state.get("remote_login"):
        remote_hint = None
    elif not state["backup_warning_sent"]:
        remote_hint = "须先发送数据备份确认，并等客户确认已备份"
    elif not state["backup_confirmed"]:
        remote_hint = "已发送数据备份确认，等待客户确认已备份"
    extension_ok = (
        accepted
        and not state["solution_given"]
        and not state["escalated"]
        and state["extensions"] < max_extensions
    )
    can_act = user.staff_no is not None
    return {
        "accept": {"enabled": can_act and status == OPENED},
        "backup_warning": {"enabled": can_act and accepted and not state["backup_warning_sent"]},
        "backup_confirmation": {
            "enabled": can_act
            and accepted
            and state["backup_warning_sent"]
            and not state["backup_confirmed"]
        },
        "remote": {
            "enabled": can_act
            and accepted
            and remote_hint is None
            and not state.get("remote_login"),
            "hint": remote_hint,
        },
        "solution": {"enabled": can_act and accepted and not state["solution_given"]},
        "extension": {
            "enabled": can_act and extension_ok,
            "grant": user.is_manager,
        },
        "escalate": {"enabled": can_act and working and not state["escalated"]},
        "resolve": {"enabled": can_act and accepted},
        "close": {"enabled": can_act and status in ACTIVE},
        "reassign": {"enabled": can_act and user.is_manager and status in ACTIVE},
    }


async def _ticket_context(request: web.Request) -> dict[str, Any]:
    services = services_of(request)
    user = current_user(request)
    detail = await _visible_detail(request)
    number = detail["number"]
    timers, last_agent = await _clock_rows(services, [number])
    badges = sla_badges(detail, timers[number], services.now(), last_agent.get(number))
    return {
        "ticket": detail,
        "sla": badges,
        "actions": actions_of(detail, user, services.policy.sla.max_extensions),
        "items": transcript_items(detail),
    }


def transcript_items(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Messages and the SPEC events between them, in time order, as the page lists them."""
    items: list[dict[str, Any]] = [
        {**message, "kind": "message", "ts": message.get("ts") or ""}
        for message in detail.get("messages", [])
        if message.get("role") in ("customer", "agent")
    ]
    for event in detail.get("events", []):
        if event["event"] in TIMELINE:
            label = EVENT_LABELS[event["event"]]
            items.append({**event, "kind": "event", "ts": event.get("ts") or "", "label": label})
    items.sort(key=lambda item: (item["ts"], 0 if item["kind"] == "event" else 1))
    return items


async def ticket_page(request: web.Request) -> web.StreamResponse:
    """A ticket: transcript, SLA clocks, prompted script lines, draft box, actions."""
    services = services_of(request)
    user = current_user(request)
    context = await _ticket_context(request)
    number = context["ticket"]["number"]
    scripts = [line for line in await services.views.script_lines(number) if line["key"]]
    engineers = []
    if user.is_manager:
        engineers = [s for s in await services.views.staff() if "engineer" in s.get("roles", [])]
    last_id = max((m["id"] for m in context["ticket"].get("messages", [])), default=0)
    return await render(
        request,
        "ticket.html",
        page_title=f"工单 {number}",
        scripts=scripts,
        engineers=engineers,
        last_id=last_id,
        max_chars=services.settings.max_text_chars,
        **context,
        **label_context(services),
    )


def _id_query(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "0") or "0"
    if not raw.isdigit():
        raise ApiError(400, "bad_query", f"{name} must be an id (a whole number)", field=name)
    return int(raw)


async def ticket_live(request: web.Request) -> web.StreamResponse:
    """What changed since the page last looked: lines after ``?after=ID``, events after
    ``?after_event=ID``, and the status, SLA clocks and enabled actions now."""
    try:
        after = _id_query(request, "after")
        after_event = _id_query(request, "after_event")
    except ApiError as exc:
        return json_error(exc.status, exc.code, exc.message, **exc.extra)
    context = await _ticket_context(request)
    detail = context["ticket"]
    state = state_of(request)
    sla_html = state.templates.get_template("_sla.html").render(sla=context["sla"])
    items = [
        item
        for item in context["items"]
        if item["id"] > (after if item["kind"] == "message" else after_event)
    ]
    return _json(
        {
            "status": detail["status"],
            "status_label": STATUS_LABELS.get(detail["status"], detail["status"]),
            "items": items,
            "actions": context["actions"],
            "state": detail["state"],
            "drafts": detail.get("drafts", []),
            "sla_html": sla_html,
        }
    )


# -- actions ---------------------------------------------------------------------------------


def _staff_no(user: ConsoleUser) -> str:
    if user.staff_no is None:
        raise ApiError(403, "no_staff_no", "此账号未关联工号，不能操作工单")
    return user.staff_no


async def _guarded_number(request: web.Request) -> str:
    """The ticket number of the request after the visibility check."""
    detail = await _visible_detail(request)
    return str(detail["number"])


def _run(action: Action[Any]) -> Handler:
    """The console's handler of one registered action (JSON in, JSON out; errors keep the
    service's code), under the signed-in account's 工号."""

    async def handler(request: web.Request) -> web.StreamResponse:
        user = current_user(request)
        services = services_of(request)
        try:
            number = await _guarded_number(request)
            data = await read_json(request) if request.can_read_body else {}
            staff_no = _staff_no(user)
            body = parse_body(action.body, data, text_limit=services.settings.max_text_chars)
            result = await services.tickets.run(action.name, number, staff_no, body)
        except ApiError as exc:
            return json_error(exc.status, exc.code, exc.message, **exc.extra)
        except TicketError as exc:
            return json_error(exc.status, exc.code, exc.message, **exc.details)
        return _json(result.to_dict())

    handler.__name__ = f"action_{action.name.replace('-', '_')}"
    return handler


async def no_such_action(request: web.Request) -> web.StreamResponse:
    name = request.match_info["action"]
    return json_error(404, "no_such_action", f"没有操作 {name}")


async def presend(request: web.Request) -> web.StreamResponse:
    """The pre-send check of a draft (as the engineer types): verdict, spans, suggestion."""
    services = services_of(request)
    try:
        number = await _guarded_number(request)
        data = await read_json(request)
        text = str_field(data, "text", required=False, max_len=services.settings.max_text_chars)
    except ApiError as exc:
        return json_error(exc.status, exc.code, exc.message, **exc.extra)
    if not text:
        return _json({"verdict": "ok", "text": "", "hits": [], "suggestion": None, "notes": []})
    result = await services.tickets.check_draft(number, text)
    hits = [{**hit.to_dict(), "title": RULE_TITLES.get(hit.rule, "")} for hit in result.hits]
    return _json({**result.to_dict(), "hits": hits, "notes": list(result.notes)})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/queue", queue_page, "console.queue", roles=TICKET_ROLES),
    Route("GET", "/api/queue", queue_api, "console.api.queue", roles=TICKET_ROLES, api=True),
    Route("GET", "/tickets/{number}", ticket_page, "console.ticket", roles=TICKET_ROLES),
    Route(
        "GET",
        "/api/tickets/{number}/live",
        ticket_live,
        "console.api.ticket_live",
        roles=TICKET_ROLES,
        api=True,
    ),
    Route(
        "POST",
        "/api/tickets/{number}/presend",
        presend,
        "console.api.presend",
        roles=TICKET_ROLES,
        api=True,
    ),
    *(
        Route(
            "POST",
            f"/api/tickets/{{number}}/{action.name}",
            _run(action),
            f"console.api.action.{action.name}",
            roles=TICKET_ROLES,
            api=True,
        )
        for action in ACTIONS
    ),
    Route(
        "POST",
        "/api/tickets/{number}/{action}",
        no_such_action,
        "console.api.no_such_action",
        roles=TICKET_ROLES,
        api=True,
    ),
)
