"""The on-call duty page (seed 003 值班管理制度): the rota, the month's duty log, the hand-over.

``/console/duty[?month=YYYY-MM]`` shows the engineer on duty for the month and the
next ones, the tickets routed on call, the calls and visits outside the working day
with their durations (visit time is overtime), the tickets still to follow, and the
hand-over.  A manager sets the rota (``POST /console/duty/rota``); the month's
engineer on duty, or a manager, submits the hand-over (``POST /console/duty/handover``).
Everything goes through `bot.duty.DutyBook`, as the duty API does.
"""

from __future__ import annotations

from aiohttp import web

from bot.console.auth import MANAGER_ROLES, TICKET_ROLES, Route, current_user
from bot.console.pages import render, services_of, state_of
from bot.console.ticket_panels import CONTACT_LABELS, WHY_LABELS
from bot.duty import DutyBook, DutyError, parse_month, this_month
from bot.http import read_form
from compliance.rules.timing import duration
from storage.models import EngineerRole

ALERT_LABELS = {
    "duty_routed": "工单已转值班工程师",
    "duty_rota_empty": "当月未排班，工单未能转值班工程师",
    "duty_visit": "值班上门服务，须汇报情况",
}


def _month(request: web.Request, raw: str | None) -> str:
    try:
        return parse_month(raw or this_month(services_of(request).now()))
    except DutyError:
        return this_month(services_of(request).now())


async def _page(
    request: web.Request, month: str, *, error: str = "", status: int = 200
) -> web.Response:
    services = services_of(request)
    book = DutyBook(services.sessionmaker)
    summary = await book.month_summary(month)
    engineers = [
        s for s in await services.views.staff() if EngineerRole.ENGINEER in s.get("roles", [])
    ]
    user = current_user(request)
    giver = summary["engineer"]
    return await render(
        request,
        "duty.html",
        status=status,
        page_title="值班",
        month=month,
        summary=summary,
        rota=await book.rota(month),
        handover=await book.handover(month),
        engineers=engineers,
        may_hand_over=user.is_manager or (giver is not None and giver["staff_no"] == user.staff_no),
        window=f"{services.policy.duty.opens:%H:%M}–{services.policy.duty.closes:%H:%M}",
        workday=(
            f"{services.policy.duty.workday_opens:%H:%M}–"
            f"{services.policy.duty.workday_closes:%H:%M}"
        ),
        why_labels=WHY_LABELS,
        alert_labels=ALERT_LABELS,
        contact_labels=CONTACT_LABELS,
        call_time=duration(summary["call_seconds"]) if summary["call_seconds"] else "—",
        visit_time=duration(summary["visit_seconds"]) if summary["visit_seconds"] else "—",
        contacts=[{**c, "duration": duration(c["duration_s"])} for c in summary["contacts"]],
        error=error,
    )


async def duty_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, _month(request, request.query.get("month")))


async def set_rota(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    user = current_user(request)
    raw_month = str(form.get("month", ""))
    book = DutyBook(services_of(request).sessionmaker)
    try:
        row = await book.set_rota(
            raw_month,
            str(form.get("staff_no", "")),
            by=user.staff_no or user.username,
            note=str(form.get("note", "")).strip()[:500] or None,
        )
    except DutyError as exc:
        return await _page(request, _month(request, raw_month), error=exc.message, status=400)
    raise web.HTTPSeeOther(
        f"{state_of(request).prefix}/duty?month={row['month']}&notice=rota_saved"
    )


async def hand_over(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    user = current_user(request)
    raw_month = str(form.get("month", ""))
    book = DutyBook(services_of(request).sessionmaker)
    try:
        handed = await book.submit_handover(
            raw_month,
            str(form.get("notes", "")),
            by=user.staff_no or user.username,
            manager=user.is_manager,
            now=services_of(request).now(),
        )
    except DutyError as exc:
        return await _page(
            request, _month(request, raw_month), error=exc.message, status=exc.status
        )
    raise web.HTTPSeeOther(
        f"{state_of(request).prefix}/duty?month={handed['month']}&notice=handover_saved"
    )


ROUTES: tuple[Route, ...] = (
    Route("GET", "/duty", duty_page, "console.duty", roles=TICKET_ROLES),
    Route("POST", "/duty/rota", set_rota, "console.duty.rota", roles=MANAGER_ROLES),
    Route("POST", "/duty/handover", hand_over, "console.duty.handover", roles=TICKET_ROLES),
)
