"""The engineer's view: the queue with SLA state, and the ticket page.

Pages: ``/console/queue`` and ``/console/tickets/{number}``.  The JavaScript
of the ticket page (``static/console.js``) polls ``…/live`` for new lines and
the ticket's state, runs the pre-send check as the engineer types
(``…/presend``), sends drafts and runs the lifecycle actions, each a POST
with the session's CSRF token to the endpoints of `bot.console.actions`.

Scoping: an engineer sees and acts on the tickets assigned to them only (any
other ticket is "not found"); a manager or admin sees every ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.console.actions import action_forms, actions_of
from bot.console.auth import TICKET_ROLES, ConsoleUser, Route, current_user, json_error
from bot.console.desk import queue_desk, ticket_desk
from bot.console.history import customer_panel
from bot.console.media import attach_to_items
from bot.console.pages import label_context, render, services_of, state_of, visible_ticket
from bot.console.search import knowledge_panel
from bot.console.sla import CLOCK_TIMERS, clock_rows, sla_badges, with_countdowns
from bot.console.ticket_panels import ticket_panels
from bot.context import Services
from bot.http import ApiError, json_response, query_id
from bot.lifecycle import TimerKind
from scripts_library import EVENT_LABELS, STATUS_LABELS
from storage.models import EngineerRole, EventKind

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


async def queue_rows(services: Services, user: ConsoleUser) -> list[dict[str, Any]]:
    """The active tickets this account may see, each with its SLA badges; breached first."""
    staff_no = None if user.sees_all_tickets else user.staff_no
    if staff_no is None and not user.sees_all_tickets:
        return []
    tickets = await services.views.list_tickets(status="active", staff_no=staff_no)
    numbers = [t["number"] for t in tickets]
    timers, last_agent = await clock_rows(services, numbers)
    pending, unread = await services.views.queue_reminders(numbers, user.staff_no)
    now = services.now()
    # Unread lines, the last line and the customer-waiting clock (bot.console.desk).
    desk = await queue_desk(services, user, numbers)
    rows = []
    for ticket in tickets:
        number = ticket["number"]
        badges = sla_badges(ticket, timers[number], now, last_agent.get(number))
        extra = desk.get(number) or {}
        # A customer waiting past the reply limit (SLA001/SLA002) is a breach too.
        waited = bool((extra.get("waiting") or {}).get("breached"))
        rows.append(
            {
                **ticket,
                "sla": badges,
                "breached": waited or any(b.breached for b in badges),
                "alerts": other_clocks(pending.get(number, []), now),
                "bell": unread.get(number, 0),
                "desk": desk.get(number),
            }
        )
    rows.sort(key=lambda r: (not r["breached"], r["times"].get("opened_at") or ""))
    return rows


# Shown by the three clocks already (or only a step towards one of them).
_IN_THE_CLOCKS = frozenset({*CLOCK_TIMERS, TimerKind.ACCEPT_MANAGER, TimerKind.SOLUTION_WARNING})


def other_clocks(pending: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The ticket's other pending timers (RMA chase, on-site, stable run …), one per kind."""
    seen: set[str] = set()
    shown = []
    for item in with_countdowns(pending, now):
        if item["kind"] in _IN_THE_CLOCKS or item["kind"] in seen:
            continue
        seen.add(item["kind"])
        shown.append(item)
    return shown


async def archive_rows(services: Services, user: ConsoleUser) -> list[dict[str, Any]]:
    """Closed tickets still to archive (their 2-working-day clock), for the queue page."""
    if not user.sees_all_tickets and user.staff_no is None:
        return []
    staff_no = None if user.sees_all_tickets else user.staff_no
    tickets = await services.views.awaiting_archive(staff_no)
    numbers = [t["number"] for t in tickets]
    all_timers, _ = await services.views.queue_reminders(numbers, None)
    now = services.now()
    rows = []
    for ticket in tickets:
        due = next(
            (
                t
                for t in with_countdowns(all_timers.get(ticket["number"], []), now)
                if t["kind"] == TimerKind.ARCHIVE
            ),
            None,
        )
        rows.append({**ticket, "archive": due})
    return rows


async def queue_page(request: web.Request) -> web.StreamResponse:
    """The queue: the engineer's own active tickets (a manager's: everyone's)."""
    user = current_user(request)
    services = services_of(request)
    rows = await queue_rows(services, user)
    return await render(
        request,
        "queue.html",
        archive=await archive_rows(services, user),
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
    return json_response(
        {
            "tickets": [r["number"] for r in rows],
            "breached": [r["number"] for r in rows if r["breached"]],
            "rows_html": html,
        }
    )


# -- one ticket ---------------------------------------------------------------------------


async def _ticket_context(request: web.Request) -> dict[str, Any]:
    services = services_of(request)
    user = current_user(request)
    detail = await visible_ticket(request)
    number = detail["number"]
    timers, last_agent = await clock_rows(services, [number])
    badges = sla_badges(detail, timers[number], services.now(), last_agent.get(number))
    detail["timers"] = with_countdowns(detail.get("timers", []), services.now())
    return {
        "ticket": detail,
        "sla": badges,
        "actions": actions_of(detail, user, services.policy.sla.max_extensions),
        "forms": action_forms(services),
        "items": await attach_to_items(request, transcript_items(detail)),
    }


def transcript_items(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Messages and the SPEC events between them, in time order, as the page lists them."""
    items: list[dict[str, Any]] = [
        {**message, "kind": "message", "ts": message.get("ts") or ""}
        for message in detail.get("messages", [])
        if message.get("role") in ("customer", "agent", "system")
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
        engineers = [
            s for s in await services.views.staff() if EngineerRole.ENGINEER in s.get("roles", [])
        ]
    last_id = max((m["id"] for m in context["ticket"].get("messages", [])), default=0)
    return await render(
        request,
        "ticket.html",
        page_title=f"工单 {number}",
        scripts=scripts,
        engineers=engineers,
        last_id=last_id,
        max_chars=services.settings.max_text_chars,
        panels=ticket_panels(services.policy, context["ticket"]),
        knowledge=await knowledge_panel(services, context["ticket"]),
        customer_panel=await customer_panel(services, number),
        desk=await ticket_desk(services, number, user),
        **context,
        **label_context(services),
    )


def _id_query(request: web.Request, name: str) -> int:
    return query_id(request, name)


async def ticket_live(request: web.Request) -> web.StreamResponse:
    """What changed since the page last looked: lines after ``?after=ID``, events after
    ``?after_event=ID``, and the status, SLA clocks, warranty, reminders and delivery panels
    and enabled actions now."""
    try:
        after = _id_query(request, "after")
        after_event = _id_query(request, "after_event")
    except ApiError as exc:
        return json_error(exc.status, exc.code, exc.message, **exc.extra)
    context = await _ticket_context(request)
    detail = context["ticket"]
    state = state_of(request)
    sla_html = state.templates.get_template("_sla.html").render(sla=context["sla"])
    # The warranty panel follows quote, repair and replacement unit as they happen.
    warranty_html = state.templates.get_template("_warranty.html").render(ticket=detail)
    reminders_html = state.templates.get_template("_ticket_reminders.html").render(ticket=detail)
    # Forms inside: the page swaps it in only after an action, never under the engineer's hand.
    delivery_html = state.templates.get_template("_ticket_delivery.html").render(
        ticket=detail, actions=context["actions"], prefix=state.prefix
    )
    items = [
        item
        for item in context["items"]
        if item["id"] > (after if item["kind"] == "message" else after_event)
    ]
    return json_response(
        {
            "status": detail["status"],
            "status_label": STATUS_LABELS.get(detail["status"], detail["status"]),
            "items": items,
            "actions": context["actions"],
            "state": detail["state"],
            "drafts": detail.get("drafts", []),
            "sla_html": sla_html,
            "warranty_html": warranty_html,
            "reminders_html": reminders_html,
            "delivery_html": delivery_html,
        }
    )


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
)
