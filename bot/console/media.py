"""The console's media endpoints: a ticket's files, and the engineer's upload.

- ``GET  /console/media/{id}`` — a stored attachment, for an account that may
  see its ticket (an engineer: their own tickets; QA, managers: all);
- ``POST /console/api/tickets/{n}/attachments`` — multipart ``file``: the
  engineer sends an image or file to the customer (`bot.media.outbound`);
  refusals are 4xx naming ``file``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.console.auth import QA_ROLES, TICKET_ROLES, Route, current_user
from bot.console.pages import services_of, state_of, visible_ticket
from bot.http import ApiError, json_response, path_id
from bot.media.outbound import send_media
from bot.media.routes import MEDIA, MediaRuntime, file_response, read_upload, refusal
from bot.media.store import MediaRefused
from bot.media.views import attachments_by_message
from storage.desk_models import Attachment
from storage.models import Engineer, Message, Ticket


def media_of(request: web.Request) -> MediaRuntime:
    """The app's media store; a 503 naming the missing module when it is not mounted."""
    runtime = request.config_dict.get(MEDIA)
    if runtime is None:
        raise ApiError(503, "media_unavailable", "文件存储未启用（bot.media 未挂载）", field="file")
    return runtime


def console_url(prefix: str) -> Callable[[int], str]:
    """The console's address of an attachment id."""

    def url(attachment_id: int) -> str:
        return f"{prefix}/media/{attachment_id}"

    return url


async def media_file(request: web.Request) -> web.StreamResponse:
    attachment_id = path_id(request, "attachment_id", "attachment")
    services = services_of(request)
    user = current_user(request)
    async with services.sessionmaker() as session:
        found = (
            await session.execute(
                select(Attachment, Engineer.staff_no)
                .join(Ticket, Attachment.ticket_id == Ticket.id)
                .outerjoin(Engineer, Ticket.assigned_engineer_id == Engineer.id)
                .where(Attachment.id == attachment_id)
            )
        ).first()
    if found is None:
        raise web.HTTPNotFound(text="文件不存在")
    row, owner = found
    # The same scoping as the ticket page: an engineer sees their own tickets only.
    if user.role == "engineer" and (user.staff_no is None or owner != user.staff_no):
        raise web.HTTPNotFound(text="文件不存在")
    return file_response(media_of(request), row)


async def upload(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = current_user(request)
    detail = await visible_ticket(request)
    if not user.staff_no:
        raise ApiError(403, "no_staff_no", "此账号未关联工号，不能向客户发送文件", field="file")
    media = media_of(request)
    _values, data, claimed, filename = await read_upload(request, media.config.max_bytes, ())
    try:
        kept = await media.store.put(data, claimed, filename)
    except MediaRefused as exc:
        raise refusal(exc) from None
    sent = await send_media(
        services, media.store, detail["number"], user.staff_no, user.display_name, kept, filename
    )
    prefix = state_of(request).prefix
    return json_response(
        {
            "message_id": sent.message_id,
            "attachment": {
                "id": sent.attachment_id,
                "url": console_url(prefix)(sent.attachment_id),
                "content_type": kept.content_type,
            },
            "delivery": {"status": sent.delivery.status, "detail": sent.delivery.detail},
        },
        status=201,
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/media/{attachment_id}",
        media_file,
        "console.media",
        roles=TICKET_ROLES | QA_ROLES,
    ),
    Route(
        "POST",
        "/api/tickets/{number}/attachments",
        upload,
        "console.api.attachments",
        roles=TICKET_ROLES,
        api=True,
    ),
)


async def attach_to_items(
    request: web.Request, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Transcript items (messages and events), each message with its ``attachments``."""
    services = services_of(request)
    url = console_url(state_of(request).prefix)
    ids = [item["id"] for item in items if item.get("kind") == "message"]
    found = await attachments_by_message(services.sessionmaker, ids, url)
    return [
        {**item, "attachments": found.get(item["id"], [])}
        if item.get("kind") == "message"
        else item
        for item in items
    ]


async def line_attachments(
    request: web.Request, number: str
) -> Callable[[Any], list[dict[str, Any]]]:
    """For the QA session page: a line (a `compliance.model.Line`) → its attachments.

    The checker's lines carry no message id; a stored line is found again by its
    role and timestamp, which the lifecycle keeps unique within a ticket."""
    services = services_of(request)
    url = console_url(state_of(request).prefix)
    async with services.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Message.id, Message.role, Message.sent_at)
                .join(Ticket, Message.ticket_id == Ticket.id)
                .where(Ticket.number == number)
            )
        ).all()
    found = await attachments_by_message(services.sessionmaker, (r[0] for r in rows), url)
    by_key = {
        (role.value, round(at.timestamp(), 3)): found[message_id]
        for message_id, role, at in rows
        if message_id in found
    }

    def of(line: Any) -> list[dict[str, Any]]:
        return by_key.get((str(line.role), round(line.ts.timestamp(), 3)), [])

    return of
