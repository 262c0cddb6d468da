"""Reminders reach people: the console's reminders page, its count in the navigation,
and the manager's overview of the clocks.

Every SLA timer, when it fires, records a ``reminder_sent`` event per person
(`bot.lifecycle.deadlines`).  ``/console/reminders`` lists the ones addressed to
the signed-in account's 工号, the new ones first marked; ``POST
/console/reminders/read`` marks them read (the nav's count starts again after
them); ``/console/api/reminders`` answers the count and the newest, which the
page script polls to keep the count in the navigation current.  The manager
page shows `manager_reminders`: the timers due within a day or overdue across
the centre, and the latest reminders to anyone.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.console.auth import TICKET_ROLES, Route, current_user
from bot.console.pages import render, services_of, state_of
from bot.console.sla import with_countdowns
from bot.context import Services
from bot.http import json_response


async def reminders_page(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    services = services_of(request)
    inbox: dict[str, Any] = {"items": [], "unread": 0}
    if user.staff_no is not None:
        inbox = await services.views.reminder_inbox(user.staff_no)
    return await render(
        request,
        "reminders.html",
        page_title="提醒",
        inbox=inbox,
        no_staff=user.staff_no is None,
    )


async def mark_read(request: web.Request) -> web.StreamResponse:
    """Everything addressed to this 工号 so far is read (a form post, CSRF-checked)."""
    user = current_user(request)
    if user.staff_no is None:
        raise web.HTTPForbidden(text="此账号未关联工号，没有提醒")
    await services_of(request).views.mark_reminders_read(user.staff_no)
    raise web.HTTPSeeOther(f"{state_of(request).prefix}/reminders?notice=reminders_read")


async def reminders_api(request: web.Request) -> web.StreamResponse:
    """The count of new reminders and the ten newest, for the navigation's count."""
    user = current_user(request)
    if user.staff_no is None:
        return json_response({"unread": 0, "items": []})
    inbox = await services_of(request).views.reminder_inbox(user.staff_no, limit=10)
    return json_response(inbox)


async def manager_reminders(services: Services) -> dict[str, Any]:
    """The manager page's 提醒 section: clocks due within a day or overdue, reminders sent."""
    overview = await services.views.reminders_overview()
    return {
        "due": with_countdowns(overview["due"], services.now()),
        "sent": overview["sent"],
    }


ROUTES: tuple[Route, ...] = (
    Route("GET", "/reminders", reminders_page, "console.reminders", roles=TICKET_ROLES),
    Route("POST", "/reminders/read", mark_read, "console.reminders.read", roles=TICKET_ROLES),
    Route(
        "GET",
        "/api/reminders",
        reminders_api,
        "console.api.reminders",
        roles=TICKET_ROLES,
        api=True,
    ),
)
