"""The live desk: what the ticket page and the queue poll besides the transcript.

- ``GET  /console/api/tickets/{n}/desk`` — the drafts offered now (added and
  withdrawn as the turn moves), the customer-waiting clock (`bot.console.waiting`),
  notes and tags, the newest customer line, the unread lines on this account's
  other tickets; reading it marks the ticket read for this account (`TicketRead`,
  in the database: every serve process agrees);
- ``GET  /console/api/tickets/{n}/canned`` — the canned replies for the "/" menu:
  this ticket's script lines first, then the desk's common replies
  (``templates/_canned_replies.txt``, one per line);
- ``POST /console/api/tickets/{n}/notes`` — ``{text}``: an internal note (never
  sent to the customer, never handed to a channel, not in the transcript);
- ``POST /console/api/tickets/{n}/tags`` — ``{tag}``; ``…/tags/remove`` — ``{tag}``.

`queue_desk` gives the queue its unread count, last line and waiting clock per ticket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from bot.console.auth import TICKET_ROLES, ConsoleUser, Route, current_user
from bot.console.pages import services_of, state_of, visible_ticket
from bot.console.waiting import waiting_clocks
from bot.context import Services
from bot.http import ApiError, json_response, read_json, required_str
from scripts_library import SCRIPT_LABELS
from storage.desk_models import TicketNote, TicketRead, TicketTag
from storage.models import Message, MessageRole, Ticket

MAX_NOTE_CHARS = 2000
MAX_TAG_CHARS = 16
MAX_TAGS = 12
PREVIEW_CHARS = 40


def reader_of(user: ConsoleUser) -> str:
    return f"user:{user.id}"


async def _ticket_id(services: Services, number: str) -> int:
    async with services.sessionmaker() as session:
        found = await session.scalar(select(Ticket.id).where(Ticket.number == number))
    if found is None:
        raise web.HTTPNotFound(text=f"工单 {number} 不存在")
    return int(found)


async def notes_and_tags(
    services: Services, ticket_id: int
) -> tuple[list[dict[str, Any]], list[str]]:
    async with services.sessionmaker() as session:
        notes = (
            await session.execute(
                select(TicketNote)
                .where(TicketNote.ticket_id == ticket_id)
                .order_by(TicketNote.created_at, TicketNote.id)
            )
        ).scalars()
        note_views = [
            {
                "id": n.id,
                "author": n.author,
                "author_name": n.author_name,
                "text": n.text,
                "ts": n.created_at.isoformat(),
            }
            for n in notes
        ]
        tags = list(
            (
                await session.execute(
                    select(TicketTag.tag)
                    .where(TicketTag.ticket_id == ticket_id)
                    .order_by(TicketTag.id)
                )
            ).scalars()
        )
    return note_views, tags


async def mark_read(services: Services, ticket_id: int, reader: str) -> None:
    """Move this reader's marker to the ticket's newest line (never backwards)."""
    async with services.sessionmaker() as session:
        newest = await session.scalar(
            select(func.max(Message.id)).where(Message.ticket_id == ticket_id)
        )
    newest = int(newest or 0)
    for _attempt in range(2):
        try:
            async with services.sessionmaker() as session, session.begin():
                row = await session.scalar(
                    select(TicketRead).where(
                        TicketRead.ticket_id == ticket_id, TicketRead.reader == reader
                    )
                )
                if row is None:
                    session.add(
                        TicketRead(ticket_id=ticket_id, reader=reader, last_message_id=newest)
                    )
                elif row.last_message_id < newest:
                    row.last_message_id = newest
            return
        except IntegrityError:
            continue  # another process inserted the marker first: update it


async def ticket_desk(services: Services, number: str, user: ConsoleUser) -> dict[str, Any]:
    """The desk panel's state for one ticket (notes, tags, waiting clock)."""
    ticket_id = await _ticket_id(services, number)
    notes, tags = await notes_and_tags(services, ticket_id)
    now = services.now()
    clock = (await waiting_clocks(services, [number])).get(number)
    return {
        "now": now.isoformat(),
        "notes": notes,
        "tags": tags,
        "waiting": clock.to_dict(now) if clock is not None else None,
        "ticket_id": ticket_id,
    }


async def queue_desk(
    services: Services, user: ConsoleUser, numbers: Sequence[str]
) -> Mapping[str, dict[str, Any]]:
    """Per ticket: unread customer lines for this account, the last line, the waiting clock."""
    if not numbers:
        return {}
    reader = reader_of(user)
    now = services.now()
    async with services.sessionmaker() as session:
        ids: dict[str, int] = {
            number: ticket_id
            for number, ticket_id in await session.execute(
                select(Ticket.number, Ticket.id).where(Ticket.number.in_(numbers))
            )
        }
        marks: dict[int, int] = {
            ticket_id: last_id
            for ticket_id, last_id in await session.execute(
                select(TicketRead.ticket_id, TicketRead.last_message_id).where(
                    TicketRead.ticket_id.in_(ids.values()), TicketRead.reader == reader
                )
            )
        }
        lines = (
            await session.execute(
                select(Message.ticket_id, Message.id, Message.role, Message.text, Message.sent_at)
                .where(
                    Message.ticket_id.in_(ids.values()),
                    Message.role.in_((MessageRole.CUSTOMER, MessageRole.AGENT)),
                )
                .order_by(Message.ticket_id, Message.sent_at, Message.id)
            )
        ).all()
    clocks = await waiting_clocks(services, numbers)
    last: dict[int, tuple[MessageRole, str, datetime]] = {}
    unread: dict[int, int] = {}
    for line_ticket, message_id, role, text, at in lines:
        if line_ticket is None:
            continue
        last[line_ticket] = (role, text, at)
        if role is MessageRole.CUSTOMER and message_id > marks.get(line_ticket, 0):
            unread[line_ticket] = unread.get(line_ticket, 0) + 1
    found: dict[str, dict[str, Any]] = {}
    for number, ticket_id in ids.items():
        seen = last.get(ticket_id)
        clock = clocks.get(number)
        preview = (seen[1] if seen else "").replace("\n", " ")
        found[number] = {
            "unread": unread.get(ticket_id, 0),
            "last_text": preview[:PREVIEW_CHARS] + ("…" if len(preview) > PREVIEW_CHARS else ""),
            "last_role": seen[0].value if seen else None,
            "last_ts": seen[2].isoformat() if seen else None,
            "waiting": clock.to_dict(now) if clock is not None else None,
        }
    return found


async def desk_live(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = current_user(request)
    detail = await visible_ticket(request)
    state = await ticket_desk(services, detail["number"], user)
    await mark_read(services, state.pop("ticket_id"), reader_of(user))
    newest = max(
        (m["id"] for m in detail.get("messages", []) if m.get("role") == "customer"), default=0
    )
    drafts = [
        {**d, "label": SCRIPT_LABELS.get(d.get("key", ""), d.get("key", ""))}
        for d in detail.get("drafts", [])
    ]
    # New lines on this account's other tickets, for the title badge and the reminder.
    staff_no = None if user.sees_all_tickets else user.staff_no
    others = [
        t["number"]
        for t in await services.views.list_tickets(status="active", staff_no=staff_no)
        if t["number"] != detail["number"]
    ]
    elsewhere = sum(row["unread"] for row in (await queue_desk(services, user, others)).values())
    return json_response(
        {**state, "drafts": drafts, "last_customer_id": newest, "unread_elsewhere": elsewhere}
    )


def canned_lines(request: web.Request) -> list[str]:
    env = state_of(request).templates
    assert env.loader is not None
    source, _name, _up = env.loader.get_source(env, "_canned_replies.txt")
    return [line.strip() for line in source.splitlines() if line.strip() and line[0] != "#"]


async def canned(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    detail = await visible_ticket(request)
    items = [
        {
            "key": line["key"],
            "label": SCRIPT_LABELS.get(str(line["key"]), str(line["key"])),
            "text": line["text"],
            "source": "script",
        }
        for line in await services.views.script_lines(detail["number"])
        if line.get("key")
    ]
    items += [
        {"key": None, "label": text[:12], "text": text, "source": "canned"}
        for text in canned_lines(request)
    ]
    return json_response({"items": items})


async def add_note(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = current_user(request)
    detail = await visible_ticket(request)
    body = await read_json(request)
    text = required_str(body, "text", max_len=MAX_NOTE_CHARS)
    ticket_id = await _ticket_id(services, detail["number"])
    async with services.sessionmaker() as session, session.begin():
        note = TicketNote(
            ticket_id=ticket_id,
            author=user.staff_no or user.username,
            author_name=user.display_name,
            text=text,
            created_at=services.now(),
        )
        session.add(note)
    notes, _tags = await notes_and_tags(services, ticket_id)
    return json_response({"notes": notes}, status=201)


def _tag(body: Mapping[str, Any]) -> str:
    tag = required_str(body, "tag", max_len=MAX_TAG_CHARS)
    if any(ch in tag for ch in ",，\n\t"):
        raise ApiError(400, "bad_field", "标签不能包含逗号或换行", field="tag")
    return tag


async def add_tag(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = current_user(request)
    detail = await visible_ticket(request)
    tag = _tag(await read_json(request))
    ticket_id = await _ticket_id(services, detail["number"])
    _notes, tags = await notes_and_tags(services, ticket_id)
    if tag not in tags:
        if len(tags) >= MAX_TAGS:
            raise ApiError(409, "too_many_tags", f"每张工单最多 {MAX_TAGS} 个标签", field="tag")
        try:
            async with services.sessionmaker() as session, session.begin():
                session.add(
                    TicketTag(
                        ticket_id=ticket_id,
                        tag=tag,
                        added_by=user.staff_no or user.username,
                        created_at=services.now(),
                    )
                )
        except IntegrityError:
            pass  # added meanwhile by someone else: the same outcome
    _notes, tags = await notes_and_tags(services, ticket_id)
    return json_response({"tags": tags}, status=201)


async def remove_tag(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    detail = await visible_ticket(request)
    tag = _tag(await read_json(request))
    ticket_id = await _ticket_id(services, detail["number"])
    async with services.sessionmaker() as session, session.begin():
        await session.execute(
            delete(TicketTag).where(TicketTag.ticket_id == ticket_id, TicketTag.tag == tag)
        )
    _notes, tags = await notes_and_tags(services, ticket_id)
    return json_response({"tags": tags})


def _api(method: str, path: str, handler: Any, name: str) -> Route:
    return Route(method, path, handler, name, roles=TICKET_ROLES, api=True)


# Before the actions' catch-all ``/api/tickets/{n}/{action}`` in `build_routes`.
ROUTES: tuple[Route, ...] = (
    _api("GET", "/api/tickets/{number}/desk", desk_live, "console.api.desk"),
    _api("GET", "/api/tickets/{number}/canned", canned, "console.api.canned"),
    _api("POST", "/api/tickets/{number}/notes", add_note, "console.api.notes"),
    _api("POST", "/api/tickets/{number}/tags", add_tag, "console.api.tags"),
    _api("POST", "/api/tickets/{number}/tags/remove", remove_tag, "console.api.tags_remove"),
)
