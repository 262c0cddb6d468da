"""The desk's extra tables: media attachments, internal notes, tags and read markers.

- `Attachment` — an image, file or voice message that came with a line (a
  customer's upload in /chat, a WeChat / WeCom kf media_id, a bridge URL) or
  that an engineer sent.  The line is stored at once with a *pending*
  attachment; a background fetcher (`bot.media.fetcher`) downloads it and
  stores the file under a content-hash name, retrying later on failure.
- `TicketNote` — an engineer's internal note on a ticket: never sent to the
  customer, never handed to a channel, not part of the transcript.
- `TicketTag` — a short label on a ticket (one of each per ticket).
- `TicketRead` — how far one console account has read a ticket's lines: the
  queue's unread counts (in the database, so several serve processes agree).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

__all__ = [
    "ATTACHMENT_KINDS",
    "ATTACHMENT_STATES",
    "Attachment",
    "TicketNote",
    "TicketRead",
    "TicketTag",
]

ATTACHMENT_KINDS: tuple[str, ...] = ("image", "file", "voice", "video")
# pending: to be fetched from the channel; stored: the file is on disk;
# failed: gave up after the last retry; refused: over the size or type limits;
# erased: the customer's personal data was deleted (forgotten, or past retention).
ATTACHMENT_STATES: tuple[str, ...] = ("pending", "stored", "failed", "refused", "erased")


class Attachment(Base):
    """One media item of a message, and where its bytes are (or will be)."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index(None, "message_id"),
        Index(None, "ticket_id"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # ATTACHMENT_KINDS
    # Where the bytes come from: "upload" (already here), "media_id" (the
    # channel's media API), "url" (a bridge link).
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # The file under the media directory (``ab/abcdef….png``).
    stored_name: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    # A fetcher's claim, so two serve processes never fetch the same item at once.
    claimed_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column()


class TicketNote(Base):
    """An internal note on a ticket, for the engineers only."""

    __tablename__ = "ticket_notes"
    __table_args__ = (Index(None, "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    author: Mapped[str] = mapped_column(String(64))  # 工号 or console user name
    author_name: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketTag(Base):
    """A label on a ticket (重要客户, 硬盘 …), once per ticket."""

    __tablename__ = "ticket_tags"
    __table_args__ = (UniqueConstraint("ticket_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    tag: Mapped[str] = mapped_column(String(32))
    added_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketRead(Base):
    """The last line of a ticket one console account has seen."""

    __tablename__ = "ticket_reads"
    __table_args__ = (UniqueConstraint("ticket_id", "reader"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    reader: Mapped[str] = mapped_column(String(64))
    last_message_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
