"""The manager's view: the team's month, SLA breaches, escalations and requests waiting,
and reassignment.  The month per engineer includes the customer suggestions they
recorded and the performance points those earn (`bot.console.suggestions`).

Scores and satisfaction come from the same stored check results as the QA
pages (`bot.console.qa_data`), per engineer for one month; the breaches and
queues come live from the tickets.  Reassigning and granting an extension
are `TicketService` calls under the manager's 工号.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.console.actions import WORKING
from bot.console.auth import MANAGER_ROLES, Route, current_user
from bot.console.engineer import queue_rows
from bot.console.pages import channel_labels, render, services_of, state_of
from bot.console.qa_data import build_view
from bot.console.reminders import manager_reminders
from bot.console.satisfaction_month import satisfaction_months
from bot.console.suggestions import suggestion_months
from bot.http import bad_field, read_form
from bot.lifecycle import ExtensionBody, ReassignBody, TicketError
from bot.validation import Invalid, parse_month
from compliance.calendar import SHANGHAI
from compliance.reports.summary import RULE_TITLES
from scripts_library import STATUS_LABELS
from storage.models import EngineerRole, EventKind, Ticket, TicketEvent

MAX_NOTE = 1000


def month_of(request: web.Request) -> tuple[date, date, str]:
    """The month in ``?month=YYYY-MM`` (default: this month): first day, last day, label."""
    today = services_of(request).now().astimezone(SHANGHAI).date()
    raw = request.query.get("month", "")
    try:
        first = parse_month(raw) if raw else today.replace(day=1)
    except Invalid as exc:
        raise bad_field("month", str(exc), "bad_query") from None
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1), f"{first.year:04d}-{first.month:02d}"


async def _extension_requests(request: web.Request, numbers: set[str]) -> list[dict[str, Any]]:
    """Open extension requests: asked for by the engineer, not yet granted, ticket still
    being worked on without a solution or an escalation."""
    services = services_of(request)
    async with services.sessionmaker() as db:
        rows = (
            await db.execute(
                select(TicketEvent, Ticket.number)
                .join(Ticket, TicketEvent.ticket_id == Ticket.id)
                .where(
                    Ticket.number.in_(numbers),
                    TicketEvent.event.in_(
                        (
                            EventKind.EXTENSION_REQUESTED,
                            EventKind.EXTENSION_GRANTED,
                            EventKind.SOLUTION_GIVEN,
                            EventKind.ESCALATED,
                        )
                    ),
                )
                .order_by(TicketEvent.at, TicketEvent.id)
            )
        ).all()
    open_requests: dict[str, dict[str, Any]] = {}
    for event, number in rows:
        kind = event.event
        if kind is EventKind.EXTENSION_REQUESTED:
            open_requests[number] = {
                "number": number,
                "at": event.at,
                "by": event.actor,
                "reason": (event.data or {}).get("reason", ""),
            }
        elif kind in ("extension_granted", "solution_given", "escalated"):
            open_requests.pop(number, None)
    return sorted(open_requests.values(), key=lambda r: r["at"])


async def overview(request: web.Request) -> web.StreamResponse:
    """The month per engineer, live breaches, escalations and extension requests."""
    services = services_of(request)
    user = current_user(request)
    first, last, label = month_of(request)
    engine = await state_of(request).sync_engine(services)
    view = await asyncio.to_thread(build_view, engine, services.policy, first, last)
    months = [m for m in view.summary.engineer_months if m.month == label]
    staff = await services.views.staff()
    names = {s["staff_no"]: s["name"] for s in staff}
    engineers = [s for s in staff if EngineerRole.ENGINEER in s.get("roles", [])]
    rows = await queue_rows(services, user)
    breached = [r for r in rows if r["breached"]]
    escalated = [r for r in rows if r["times"].get("escalated_at")]
    requests = await _extension_requests(
        request, {r["number"] for r in rows if r["status"] in WORKING}
    )
    async with services.sessionmaker() as db:
        suggestions = await suggestion_months(
            db, first, last, services.policy.scoring.suggestion_points
        )
        rating_labels = tuple(level.label for level in services.policy.satisfaction.scale)
        satisfaction = await satisfaction_months(db, first, last, rating_labels)
    sla_findings: Counter[str] = Counter()
    for session_view in view.sessions:
        for shown in session_view.findings:
            if shown.finding.rule.startswith("SLA") and not shown.false_positive:
                sla_findings[shown.finding.rule] += 1
    return await render(
        request,
        "manager.html",
        page_title="团队管理",
        month=label,
        months=months,
        suggestions=suggestions,
        satisfaction=satisfaction,
        rating_labels=rating_labels,
        names=names,
        engineers=engineers,
        rows=rows,
        breached=breached,
        escalated=escalated,
        requests=requests,
        sla_findings=sorted(sla_findings.items()),
        rule_titles=RULE_TITLES,
        status_labels=STATUS_LABELS,
        channel_labels=channel_labels(services.policy),
        unchecked=view.unchecked,
        clocks=await manager_reminders(services),
    )


async def _manager_action(request: web.Request, notice: str, action: str) -> web.StreamResponse:
    services = services_of(request)
    user = current_user(request)
    form = await read_form(request)
    number = str(form.get("number", "")).strip()[:32]
    prefix = state_of(request).prefix
    if user.staff_no is None:
        return await _problem(request, "此账号未关联工号，不能改派或批准延期。")
    try:
        if action == "reassign":
            to = str(form.get("to", ""))[:32]
            await services.tickets.run("reassign", number, user.staff_no, ReassignBody(to))
        else:
            note = str(form.get("call_note", "")).strip()[:MAX_NOTE]
            if not note:
                return await _problem(request, "批准延期须填写与客户电话沟通的内容。")
            await services.tickets.run("extension", number, user.staff_no, ExtensionBody(note))
    except TicketError as exc:
        return await _problem(request, exc.message)
    raise web.HTTPSeeOther(f"{prefix}/manager?notice={notice}")


async def _problem(request: web.Request, message: str) -> web.Response:
    return await render(
        request,
        "message.html",
        status=409,
        page_title="未能完成",
        message=message,
        back=f"{state_of(request).prefix}/manager",
    )


async def reassign(request: web.Request) -> web.StreamResponse:
    """Hand a ticket to another engineer (form: number, to)."""
    return await _manager_action(request, "reassigned", "reassign")


async def grant_extension(request: web.Request) -> web.StreamResponse:
    """Grant the one extension after calling the customer (form: number, call_note)."""
    return await _manager_action(request, "extension_granted", "extension")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/manager", overview, "console.manager", roles=MANAGER_ROLES),
    Route("POST", "/manager/reassign", reassign, "console.manager.reassign", roles=MANAGER_ROLES),
    Route(
        "POST",
        "/manager/extension",
        grant_extension,
        "console.manager.extension",
        roles=MANAGER_ROLES,
    ),
)
