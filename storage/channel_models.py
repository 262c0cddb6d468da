"""Channel plumbing on the shared declarative Base: WeCom kf cursors and the 千牛/京麦 bridge.

`KfCursor`
    One row per WeCom 微信客服 account (open_kfid): the `sync_msg` cursor, the
    latest callback's sync token, a counter every callback bumps
    (`pending_seq`) and the one the syncer has caught up with
    (`synced_seq`), and a lease (`leased_by` / `lease_until`) so that only
    one worker of all processes reads an account's messages at a time.  The
    lease is taken with a conditional UPDATE, which is atomic on SQLite and
    PostgreSQL alike.  `connected_at` is when the bot first heard of the
    account: a new cursor reads past what came before, acting on none of it.

`BridgeKey`, `BridgeNonce`
    The shared secrets bridge programs sign their requests with (key id →
    secret, optionally limited to some shops) and the nonces seen within the
    replay window.

`BridgeEvent`
    Every event a bridge posted, unique per (channel, event_id): the
    idempotency record, and the address (platform, shop, conversation) the
    bot answers a customer at.

`BridgeCommand`
    An outbound line waiting for, leased by, or reported on by a bridge
    (queued → delivered → submitted / confirmed / unknown / rejected).

`InboxMessage`
    A customer message a webhook took before it was processed (the 公众号's
    intake journal): written first, so a message is stored before WeChat is
    answered even when the ticket work behind it runs past the reply budget,
    and replayed by a sweep if the process stopped before finishing it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

__all__ = [
    "BridgeCommand",
    "BridgeCommandStatus",
    "BridgeEvent",
    "BridgeKey",
    "BridgeNonce",
    "InboxMessage",
    "KfCursor",
]


class KfCursor(Base):
    """The `sync_msg` position of one WeCom kf account and who is reading it now."""

    __tablename__ = "kf_cursors"

    open_kfid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # next_cursor of the last page whose messages are stored (WeCom: ≤ 64 bytes).
    cursor: Mapped[str | None] = mapped_column(String(128))
    # The newest callback's Token (valid about 10 minutes; sync_msg is rate
    # limited hard without one).
    pending_token: Mapped[str | None] = mapped_column(String(256))
    # Bumped by every callback; the syncer is done when synced_seq catches up.
    pending_seq: Mapped[int] = mapped_column(Integer, default=0)
    synced_seq: Mapped[int] = mapped_column(Integer, default=0)
    notified_at: Mapped[datetime | None] = mapped_column()
    synced_at: Mapped[datetime | None] = mapped_column()
    leased_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the bot first heard of the account: what the account received before
    # (sync_msg without a cursor returns three days) is read past, not acted on.
    connected_at: Mapped[datetime | None] = mapped_column()


class BridgeKey(Base):
    """A bridge program's shared secret, optionally limited to some shops."""

    __tablename__ = "bridge_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # HMAC-SHA256 key: the server must be able to read it to verify, so it is
    # sealed with the environment's key (`storage.sealing`), not hashed.
    secret: Mapped[str] = mapped_column(Text)
    # "platform:shop_id" entries this key may speak for; empty: every shop.
    shops: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BridgeNonce(Base):
    """A nonce a bridge used, kept until its timestamp leaves the replay window."""

    __tablename__ = "bridge_nonces"
    __table_args__ = (Index(None, "expires_at"),)

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()


class BridgeEvent(Base):
    """One event a bridge posted: the idempotency record and the conversation address."""

    __tablename__ = "bridge_events"
    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        Index(None, "channel", "customer_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # qianniu | jd
    event_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))  # taobao | tmall | jd
    shop_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(128))
    buyer_uid: Mapped[str] = mapped_column(String(64))
    # The customer's identity on the channel (Customer.external_id).
    customer_key: Mapped[str] = mapped_column(String(128))
    sender_role: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the request body: the same event_id with another body is refused.
    body_sha256: Mapped[str] = mapped_column(String(64))
    platform_time: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column()
    # text, media, order context, display name: as the bridge sent them.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BridgeCommandStatus(enum.StrEnum):
    """Where an outbound line stands with the bridge.

    ``queued`` waits for a poll; ``delivered`` was handed to a bridge (leased);
    ``submitted`` the bridge typed and sent it; ``confirmed`` it saw it in the
    chat; ``rejected`` it did not send it; ``unknown`` it cannot tell — never
    resent automatically, because the customer may already have it.
    """

    QUEUED = "queued"
    DELIVERED = "delivered"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    UNKNOWN = "unknown"
    REJECTED = "rejected"


class BridgeCommand(Base):
    """A line for a bridge to type into a 千牛 / 京麦 conversation."""

    __tablename__ = "bridge_commands"
    __table_args__ = (Index(None, "status", "shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # One command per stored line: a second delivery attempt of the same line
    # finds the first command instead of queueing the text twice.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(128))
    buyer_uid: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[BridgeCommandStatus] = mapped_column(
        SAEnum(
            BridgeCommandStatus,
            name="bridge_command_status",
            native_enum=False,
            create_constraint=False,
            length=16,
            values_callable=lambda members: [m.value for m in members],
            validate_strings=True,
        ),
        default=BridgeCommandStatus.QUEUED,
    )
    # How often it was handed to a bridge (a lease that ran out unreported is
    # offered again, with the same id, up to a limit).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    result_detail: Mapped[str | None] = mapped_column(Text)
    platform_msg_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column()
    reported_at: Mapped[datetime | None] = mapped_column()


class InboxMessage(Base):
    """One customer message as the webhook received it, before (and while) it is processed."""

    __tablename__ = "channel_inbox"
    __table_args__ = (UniqueConstraint("channel", "external_id"), Index(None, "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The channel's id of the message (WeChat MsgId): a redelivery collides here.
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(String(128))
    # What the core needs to process it again: kind, text, media, the raw fields.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column()
    # Set by the sweep once the message is stored and every line answering it left.
    done_at: Mapped[datetime | None] = mapped_column()
