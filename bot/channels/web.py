"""The web chat channel: the `/chat` page and its JSON endpoints.

The embedded default channel: it needs no credentials, so `aftersales serve`
shows the whole flow in a browser.  A visitor gets a random id from the
server (kept in the browser's localStorage); each message carries a client
id chosen by the page and reused on every retry, so the channel's external
id ``visitor:client_id`` makes a resend a no-op.

- ``GET  /chat`` — the page (Chinese, mobile-friendly, keyboard and screen-reader usable)
- ``POST /chat/api/visitors`` — ``{}`` → ``{"visitor": id}``
- ``POST /chat/api/messages`` — ``{visitor, client_id, text}`` → 201 ``{ticket, message,
  replies}`` (200 with ``duplicate: true`` for a resend)
- ``GET  /chat/api/messages?visitor=…&after=ID`` — the visitor's lines and the agents' after ID,
  each with its ``attachments`` (uploads: ``bot.media.routes``)

Delivery after the first reply is storing the line: the page polls for it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from bot.channels.welcome import service_hours
from bot.context import SERVICES, SETTINGS, TEMPLATES
from bot.http import ApiError, json_response, query_id, read_json, required_str
from bot.media.views import with_attachments
from bot.messages import DeliveryResult, InboundMessage, OutboundMessage

CHANNEL = "web"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PREFIX = "/chat/static"
API_PREFIX = "/chat/api"

_VISITOR = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")

# The page loads only its own script and style; nothing inline, nothing third-party.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors *",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class WebSender:
    """Delivery on the web channel: the line is stored; the page fetches it."""

    channel = CHANNEL

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if message.message_id is None:
            return DeliveryResult("failed", "web lines are delivered by storing them first")
        return DeliveryResult("sent", "stored for the page to fetch")


def _visitor(value: object) -> str:
    if not isinstance(value, str) or not _VISITOR.fullmatch(value):
        raise ApiError(
            400,
            "bad_visitor",
            "visitor must be the id issued by /chat/api/visitors",
            field="visitor",
        )
    return value


async def chat_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    policy = settings.policy
    html = (
        request.app[TEMPLATES]
        .get_template("chat.html")
        .render(
            centre=policy.company.centre,
            hotline=policy.company.hotline,
            hours=service_hours(policy, CHANNEL),
            api_prefix=API_PREFIX,
            static_prefix=STATIC_PREFIX,
            max_chars=settings.max_text_chars,
        )
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS)


async def new_visitor(request: web.Request) -> web.Response:
    return json_response({"visitor": secrets.token_urlsafe(24)}, status=201)


async def post_message(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await read_json(request)
    visitor = _visitor(data.get("visitor"))
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ApiError(
            400,
            "bad_client_id",
            "client_id must be 8–64 letters, digits, - or _ (one per message, reused on retry)",
            field="client_id",
        )
    text = required_str(data, "text", max_len=services.settings.max_text_chars)
    inbound = InboundMessage(
        channel=CHANNEL,
        customer_id=visitor,
        external_id=f"{visitor}:{client_id}",
        sent_at=services.now(),
        text=text,
    )
    # Stored (and committed) before anything is acknowledged.
    receipt = await services.tickets.receive(inbound)
    for reply in receipt.replies:
        await services.tickets.deliver(reply)
    replies = [
        await services.views.message(reply.message_id)
        for reply in receipt.replies
        if reply.message_id is not None
    ]
    return json_response(
        {
            "ticket": receipt.ticket_number,
            "duplicate": receipt.duplicate,
            "message": await services.views.message(receipt.message_id),
            "replies": replies,
        },
        status=200 if receipt.duplicate else 201,
    )


async def get_messages(request: web.Request) -> web.Response:
    visitor = _visitor(request.query.get("visitor"))
    after = query_id(request, "after")
    services = request.app[SERVICES]
    messages = await services.views.conversation(CHANNEL, visitor, after)
    # Images and files of the lines (`bot.media`), each under /chat/api/media/{id}.
    messages = await with_attachments(services.sessionmaker, messages, _media_url)
    return json_response({"messages": messages})


def _media_url(attachment_id: int) -> str:
    return f"{API_PREFIX}/media/{attachment_id}"


async def _register_sender(app: web.Application) -> AsyncIterator[None]:
    senders = app[SERVICES].senders
    senders.register(WebSender())
    yield
    senders.unregister(CHANNEL)


def setup(app: web.Application) -> None:
    """Mount the web chat page, its API and its static files."""
    app.router.add_get("/chat", chat_page)
    app.router.add_post(f"{API_PREFIX}/visitors", new_visitor)
    app.router.add_post(f"{API_PREFIX}/messages", post_message)
    app.router.add_get(f"{API_PREFIX}/messages", get_messages)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, append_version=False)
    app.cleanup_ctx.append(_register_sender)
