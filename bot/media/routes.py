"""Mounting media: the store and fetcher per app, the web chat's upload and download.

- ``POST /chat/api/uploads`` — multipart ``visitor``, ``client_id``, ``file``:
  the customer's image or file, stored, then received as their line (201, as
  ``/chat/api/messages``; 200 ``duplicate`` for a resend).  Refusals are 4xx
  naming the field: 400 ``visitor`` / ``client_id`` / ``file`` missing, 413 a
  file over ``AFTERSALES_MEDIA_MAX_BYTES``, 415 a type not allowed.
- ``GET /chat/api/media/{id}?visitor=…`` — a file of the visitor's own chat.

The console's endpoints are in `bot.console.media`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.channels.edge import periodically
from bot.channels.wechat_api import WeChatApi
from bot.channels.wechat_config import WeChatConfig
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.wecom_kf_api import WeComKfApi
from bot.channels.wecom_kf_config import WeComKfConfig
from bot.context import SERVICES, SETTINGS
from bot.http import ApiError, json_response, path_id
from bot.media.config import MediaConfig
from bot.media.fetcher import LinkMedia, MediaFetcher, TencentMedia
from bot.media.outbound import WeChatMediaSender
from bot.media.store import MediaRefused, MediaStore
from bot.media.views import with_attachments
from bot.messages import InboundKind, InboundMessage
from storage.desk_models import Attachment
from storage.models import Customer, Message, Ticket

CHAT_API = "/chat/api"
_VISITOR = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# Multipart framing and the small fields around the file.
_FORM_OVERHEAD = 16 * 1024


@dataclass(eq=False)
class MediaRuntime:
    """The app's media store and fetcher (one per process)."""

    config: MediaConfig
    store: MediaStore
    fetcher: MediaFetcher | None = None
    tokens: dict[str, SharedAccessToken] = field(default_factory=dict)


MEDIA = web.AppKey("media", MediaRuntime)


def chat_url(attachment_id: int) -> str:
    return f"{CHAT_API}/media/{attachment_id}"


def refusal(exc: MediaRefused) -> ApiError:
    status = 413 if exc.code == "file_too_large" else 415 if exc.code.endswith("allowed") else 400
    return ApiError(status, exc.code, exc.message, field="file")


async def read_upload(
    request: web.Request, limit: int, fields: tuple[str, ...]
) -> tuple[dict[str, str], bytes, str | None, str | None]:
    """A multipart body: its small text `fields`, and the ``file`` part's bytes,
    claimed type and name.  Read part by part, never past `limit` bytes of file."""
    if request.content_type == "application/x-www-form-urlencoded":
        # A form without a file part (what a browser sends when none was chosen).
        raise ApiError(400, "missing_field", "field 'file' is required", field="file")
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(
            415, "unsupported_media_type", "expected multipart/form-data with a file", field="file"
        )
    if request.content_length is not None and request.content_length > limit + _FORM_OVERHEAD:
        raise ApiError(413, "file_too_large", f"文件超过大小上限（{limit} 字节）", field="file")
    values: dict[str, str] = {}
    data: bytes | None = None
    claimed = filename = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            name = part.name or ""
            if name == "file":
                chunks: list[bytes] = []
                size = 0
                while chunk := await part.read_chunk(65536):
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(
                            413, "file_too_large", f"文件超过大小上限（{limit} 字节）", field="file"
                        )
                    chunks.append(chunk)
                data = b"".join(chunks)
                claimed = part.headers.get("Content-Type")
                filename = _clean_name(part.filename)
            elif name in fields:
                raw = await part.read(decode=False)
                if len(raw) > 256:
                    raise ApiError(400, "bad_field", f"field {name!r} is too long", field=name)
                values[name] = raw.decode("utf-8", "replace").strip()
    except (ValueError, AssertionError, aiohttp.ClientError) as exc:
        raise ApiError(
            400, "bad_multipart", f"unreadable multipart body: {exc}", field="file"
        ) from None
    if data is None:
        raise ApiError(400, "missing_field", "field 'file' is required", field="file")
    return values, data, claimed, filename


def _clean_name(raw: str | None) -> str | None:
    """The file's own name: no path, percent-escapes undone (aiohttp's client sends
    them; browsers send UTF-8), control characters dropped, at most 255 characters."""
    name = unquote(raw or "") if "%" in (raw or "") else (raw or "")
    name = name.replace("\\", "/").rpartition("/")[2]
    name = "".join(ch for ch in name if ch.isprintable())
    return name.strip()[:255] or None


async def chat_upload(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    media = request.app[MEDIA]
    values, data, claimed, filename = await read_upload(
        request, media.config.max_bytes, ("visitor", "client_id")
    )
    visitor = values.get("visitor", "")
    if not _VISITOR.fullmatch(visitor):
        raise ApiError(
            400,
            "bad_visitor",
            "visitor must be the id issued by /chat/api/visitors",
            field="visitor",
        )
    client_id = values.get("client_id", "")
    if not _CLIENT_ID.fullmatch(client_id):
        raise ApiError(
            400,
            "bad_client_id",
            "client_id must be 8–64 letters, digits, - or _ (one per message, reused on retry)",
            field="client_id",
        )
    try:
        kept = await media.store.put(data, claimed, filename)
    except MediaRefused as exc:
        raise refusal(exc) from None
    kind: InboundKind = "image" if kept.is_image else "file"
    label = "[图片]" if kind == "image" else "[文件]"
    inbound = InboundMessage(
        channel="web",
        customer_id=visitor,
        external_id=f"{visitor}:{client_id}",
        sent_at=services.now(),
        kind=kind,
        text=f"{label} {filename}" if filename else label,
        raw={"attachment": kept.as_upload(filename)},
    )
    receipt = await services.tickets.receive(inbound)
    for reply in receipt.replies:
        await services.tickets.deliver(reply)
    lines = [await services.views.message(receipt.message_id)]
    lines += [
        await services.views.message(reply.message_id)
        for reply in receipt.replies
        if reply.message_id is not None
    ]
    lines = await with_attachments(services.sessionmaker, lines, chat_url)
    return json_response(
        {
            "ticket": receipt.ticket_number,
            "duplicate": receipt.duplicate,
            "message": lines[0],
            "replies": lines[1:],
        },
        status=200 if receipt.duplicate else 201,
    )


def file_response(media: MediaRuntime, row: Attachment) -> web.StreamResponse:
    """The stored file, as a download (images inline), never run as a page."""
    if row.status != "stored" or not row.stored_name:
        raise web.HTTPNotFound(text="文件尚未获取或不可用")
    path = media.store.path(row.stored_name)
    if path is None:
        raise web.HTTPNotFound(text="文件不存在")
    inline = (row.content_type or "").startswith("image/")
    name = (row.filename or path.name).replace('"', "")
    disposition = "inline" if inline else "attachment"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": row.content_type or "application/octet-stream",
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )


async def chat_media(request: web.Request) -> web.StreamResponse:
    visitor = request.query.get("visitor", "")
    if not _VISITOR.fullmatch(visitor):
        raise ApiError(400, "bad_visitor", "visitor must be the visitor id", field="visitor")
    attachment_id = path_id(request, "attachment_id", "attachment")
    services = request.app[SERVICES]
    async with services.sessionmaker() as session:
        row = await session.scalar(
            select(Attachment)
            .join(Message, Attachment.message_id == Message.id)
            .join(Ticket, Message.ticket_id == Ticket.id)
            .join(Customer, Ticket.customer_id == Customer.id)
            .where(
                Attachment.id == attachment_id,
                Customer.channel == "web",
                Customer.external_id == visitor,
            )
        )
    if row is None:
        raise web.HTTPNotFound(text="文件不存在")
    return file_response(request.app[MEDIA], row)


async def _media_ctx(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    runtime = app[MEDIA]
    environ = app[SETTINGS].environ
    async with aiohttp.ClientSession() as http:
        fetcher = MediaFetcher(services.sessionmaker, runtime.store, services.now)
        fetcher.link = LinkMedia(http, runtime.config.max_bytes)
        wechat = WeChatConfig.from_environ(environ)
        if wechat is not None:
            token = SharedAccessToken(
                WeChatApi(http, wechat.api_base, wechat.retry),
                services.sessionmaker,
                app_id=wechat.app_id,
                secret=wechat.secret,
                instance_id=services.settings.instance_id,
                now=services.now,
                channel="wechat",
                lead_s=wechat.token_lead_s,
                box=services.secrets,
            )
            runtime.tokens["wechat"] = token
            fetcher.downloaders[("wechat", "media_id")] = TencentMedia(
                http, wechat.api_base, token, runtime.config.max_bytes
            )
            inner = services.senders.get("wechat")
            if inner is not None:
                services.senders.unregister("wechat")
                services.senders.register(
                    WeChatMediaSender(inner, http, wechat.api_base, token, services)
                )
        kf = WeComKfConfig.from_environ(environ)
        if kf is not None:
            token = SharedAccessToken(
                WeComKfApi(http, kf.api_base, kf.retry),
                services.sessionmaker,
                app_id=kf.corp_id,
                secret=kf.secret,
                instance_id=services.settings.instance_id,
                now=services.now,
                channel="wecom",
                box=services.secrets,
            )
            runtime.tokens["wecom"] = token
            fetcher.downloaders[("wecom", "media_id")] = TencentMedia(
                http, kf.api_base, token, runtime.config.max_bytes
            )
        runtime.fetcher = fetcher
        try:
            # With the scheduler (serve); tests run `fetcher.run_due()` by hand.
            every = runtime.config.sweep_s if services.settings.scheduler_enabled else 0
            async with periodically(every, fetcher.run_due, "media fetch"):
                yield
        finally:
            runtime.fetcher = None
            sender = services.senders.get("wechat")
            if isinstance(sender, WeChatMediaSender):
                services.senders.unregister("wechat")
                with contextlib.suppress(ValueError):
                    services.senders.register(sender.inner)


def setup(app: web.Application) -> None:
    """Mount the web chat's upload and download, and the media cleanup context."""
    config = MediaConfig.from_environ(app[SETTINGS].environ)
    app[MEDIA] = MediaRuntime(config=config, store=MediaStore(config))
    app.router.add_post(f"{CHAT_API}/uploads", chat_upload)
    app.router.add_get(f"{CHAT_API}/media/{{attachment_id}}", chat_media)
    app.cleanup_ctx.append(_media_ctx)
