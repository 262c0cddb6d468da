"""The console's search page and the ticket page's knowledge-base panel.

``/console/search?q=…`` searches tickets, chat lines (with the matching words
highlighted) and archived solutions through `bot.search`, closed tickets
included.  An engineer finds their own tickets and the whole archive, QA and
managers everything; a result links to what that account may open (the ticket
page, or QA's session page), and an archived solution is shown in full.

The ticket page's panel (`knowledge_panel`) shows the ticket's solution record
and archive state, and — while the ticket is open — the archived solutions most
like its first customer messages.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import search
from bot.console.auth import ALL_ROLES, TICKET_ROLES, ConsoleUser, Route, current_user
from bot.console.pages import PREFIX, label_context, render, services_of
from bot.context import Services
from bot.lifecycle import ACTIVE

ACTIVE_STATUSES = frozenset(status.value for status in ACTIVE)


def _scope(user: ConsoleUser) -> search.Scope:
    # QA reads every transcript (SPEC §1), managers every ticket.
    if user.role != "engineer":
        return search.Scope(everything=True)
    return search.Scope(everything=False, engineer_id=user.engineer_id)


def _href(user: ConsoleUser, number: str) -> str:
    if user.role in TICKET_ROLES:
        return f"{PREFIX}/tickets/{number}"
    return f"{PREFIX}/qa/sessions/{number}"


def _opens(user: ConsoleUser, found: search.Found, mine: set[str]) -> bool:
    return user.role != "engineer" or found.number in mine


async def search_page(request: web.Request) -> web.StreamResponse:
    """The search box and its results, grouped: tickets, chat lines, archived solutions."""
    services = services_of(request)
    user = current_user(request)
    query = request.query.get("q", "").strip()[: search.MAX_QUERY_CHARS]
    results = (
        await search.search(services.sessionmaker, services.engine, query, _scope(user))
        if query
        else None
    )
    mine: set[str] = set()
    if results is not None and user.role == "engineer":
        mine = {f.number for f in (*results.tickets, *results.messages)}
    links = {}
    if results is not None:
        for found in (*results.tickets, *results.messages, *results.solutions):
            if _opens(user, found, mine):
                links[(found.number, found.message_id)] = _href(user, found.number)
    return await render(
        request,
        "search.html",
        page_title="搜索",
        query=query,
        results=results,
        links=links,
        everything=_scope(user).everything,
        **label_context(services),
    )


async def knowledge_panel(services: Services, detail: dict[str, Any]) -> dict[str, Any]:
    """The ticket page's solution record, archive state and similar archived solutions."""
    number = detail["number"]
    record = await search.solution_record(services.sessionmaker, number)
    similar: list[search.Found] = []
    if detail["status"] in ACTIVE_STATUSES:
        similar = await search.similar_solutions(services.sessionmaker, services.engine, number)
    return {"record": record, "similar": similar}


ROUTES: tuple[Route, ...] = (
    Route("GET", "/search", search_page, "console.search", roles=ALL_ROLES),
)
