"""An admin's "forget this customer": the console form on the ticket page and its JSON API.

Both run `TicketService.forget_ticket_customer` (`bot.lifecycle`): the customer's
personal data is erased everywhere, their open tickets are closed with a
``customer_forgotten`` note.  Admin only: it cannot be undone.  What is kept and
why is in docs/privacy.md.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.console.auth import ADMIN_ROLES, Route, current_user, json_error
from bot.console.pages import services_of, state_of
from bot.http import json_response
from bot.lifecycle import Forgotten, TicketError

log = logging.getLogger("bot.console.privacy")


async def _forget(request: web.Request) -> Forgotten | None:
    number = request.match_info["number"]
    user = current_user(request)
    forgotten = await services_of(request).tickets.forget_ticket_customer(
        number, f"admin:{user.username}"
    )
    if forgotten is not None:
        log.warning(
            "customer %d forgotten by admin %s (from ticket %s): %d line(s), closed %s",
            forgotten.customer_id,
            user.username,
            number,
            forgotten.messages,
            ", ".join(forgotten.closed) or "none",
        )
    return forgotten


async def forget_form(request: web.Request) -> web.StreamResponse:
    """The ticket page's button: forget, then back to the ticket with a notice."""
    number = request.match_info["number"]
    try:
        forgotten = await _forget(request)
    except TicketError as exc:
        raise web.HTTPConflict(text=exc.message) from None
    if forgotten is None:
        raise web.HTTPNotFound(text=f"工单 {number} 不存在")
    prefix = state_of(request).prefix
    raise web.HTTPSeeOther(f"{prefix}/tickets/{number}?notice=customer_forgotten")


async def forget_api(request: web.Request) -> web.StreamResponse:
    """``POST /console/api/tickets/{number}/forget-customer``: what was erased, as JSON."""
    number = request.match_info["number"]
    try:
        forgotten = await _forget(request)
    except TicketError as exc:
        return json_error(exc.status, exc.code, exc.message)
    if forgotten is None:
        return json_error(404, "ticket_not_found", f"没有工单 {number}")
    return json_response(forgotten.to_dict())


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/tickets/{number}/forget-customer",
        forget_form,
        "console.ticket.forget_customer",
        roles=ADMIN_ROLES,
    ),
    Route(
        "POST",
        "/api/tickets/{number}/forget-customer",
        forget_api,
        "console.api.ticket.forget_customer",
        roles=ADMIN_ROLES,
        api=True,
    ),
)
