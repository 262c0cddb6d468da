"""The attachment a customer line brings, stored in the same transaction as the line.

Intake never waits for media: a WeChat or WeCom kf media_id, or a bridge URL,
becomes a *pending* `Attachment` next to the message, and the background
fetcher (`bot.media.fetcher`) downloads it later, retrying on failure.  An
upload to /chat arrives with its bytes already stored (the channel put them
under their content hash first), so its attachment is *stored* at once.

How a channel hands the media over, in `InboundMessage`:

- ``raw["attachment"]``: a stored upload (``sha256``, ``stored_name``, ``size``,
  ``content_type``, ``filename``);
- WeChat: ``raw["MediaId"]`` (the 公众号 media API's id);
- WeCom kf: ``media_url`` holds the media_id (the kf message's ``media_id``);
- the bridge: ``media_url`` is a link to fetch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import InboundMessage
from compliance.masking import erase_pii
from storage.desk_models import ATTACHMENT_KINDS, Attachment, TicketNote
from storage.models import Message, MessageRole

# Channels whose `media_url` is a media_id for the channel's own media API.
MEDIA_ID_CHANNELS = frozenset({"wecom"})


def _upload(raw: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = raw.get("attachment")
    return value if isinstance(value, Mapping) else None


def inbound_attachment(
    inbound: InboundMessage, message_id: int, ticket_id: int | None, now: datetime
) -> Attachment | None:
    """The attachment row for a customer line, or None when it carries no media."""
    kind = "file" if inbound.kind not in ATTACHMENT_KINDS else inbound.kind
    upload = _upload(inbound.raw)
    if upload is not None:
        return Attachment(
            message_id=message_id,
            ticket_id=ticket_id,
            channel=inbound.channel,
            kind=kind,
            source="upload",
            status="stored",
            filename=str(upload.get("filename") or "")[:255] or None,
            content_type=str(upload.get("content_type") or "")[:128] or None,
            size=int(upload.get("size") or 0),
            sha256=str(upload.get("sha256") or ""),
            stored_name=str(upload.get("stored_name") or ""),
            attempts=0,
            created_at=now,
            stored_at=now,
        )
    if inbound.kind not in ATTACHMENT_KINDS:
        return None
    media_id = inbound.raw.get("MediaId") if inbound.channel == "wechat" else None
    if inbound.channel in MEDIA_ID_CHANNELS:
        media_id = inbound.media_url
    if isinstance(media_id, str) and media_id:
        source, ref = "media_id", media_id
    elif inbound.media_url and inbound.media_url.startswith(("https://", "http://")):
        source, ref = "url", inbound.media_url
    else:
        return None
    filename = inbound.raw.get("filename") or inbound.raw.get("FileName")
    return Attachment(
        message_id=message_id,
        ticket_id=ticket_id,
        channel=inbound.channel,
        kind=kind,
        source=source,
        source_ref=ref,
        status="pending",
        filename=str(filename)[:255] if isinstance(filename, str) else None,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def erase_customer_media(
    session: AsyncSession, ticket_ids: Sequence[int], names: tuple[str, ...]
) -> int:
    """Forgetting a customer, or retention: their images and files are erased.

    The rows stay (a line had an image: the transcript says so) as *erased*, without
    name, source or type; the file itself is deleted by the media sweep
    (`bot.media.fetcher.MediaFetcher.remove_erased`), which alone knows the directory.
    Internal notes on those tickets get their phone / ID numbers and names starred.
    Returns how many attachments were erased.
    """
    if not ticket_ids:
        return 0
    customer_lines = select(Message.id).where(
        Message.ticket_id.in_(ticket_ids), Message.role == MessageRole.CUSTOMER
    )
    rows = (
        await session.scalars(
            select(Attachment).where(
                Attachment.message_id.in_(customer_lines), Attachment.status != "erased"
            )
        )
    ).all()
    for row in rows:
        row.status = "erased"
        row.filename = row.source_ref = row.last_error = row.content_type = None
        row.next_attempt_at = row.claimed_until = None
    for note in (
        await session.scalars(select(TicketNote).where(TicketNote.ticket_id.in_(ticket_ids)))
    ).all():
        note.text = erase_pii(note.text, names)
    return len(rows)
