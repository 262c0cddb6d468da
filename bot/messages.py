"""The channel-blind message types.

Every channel module turns its wire format into one `InboundMessage` and sends
one `OutboundMessage`; nothing after the channel edge knows which channel a
message came from beyond the `channel` name it carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

InboundKind = Literal["text", "image", "voice", "video", "file", "location", "link", "event"]


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer message or channel event, as the bot's core sees it."""

    channel: str
    # The customer's identity on that channel (WeChat openid, web visitor id …).
    customer_id: str
    # The channel's id for this delivery, used to de-duplicate redeliveries
    # (WeChat MsgId, or "FromUserName:CreateTime" for events).
    external_id: str
    sent_at: datetime
    kind: InboundKind = "text"
    text: str = ""
    # For kind == "event": subscribe, unsubscribe, CLICK, … (channel vocabulary).
    event: str | None = None
    display_name: str | None = None
    media_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A line the bot or an engineer sends to a customer."""

    channel: str
    customer_id: str
    text: str
    # 工号 of the engineer the line speaks for (None: the bot itself).
    staff_no: str | None = None
    ticket_number: str | None = None
    # The script line that produced it (ScriptKey value), if any.
    prompted_by: str | None = None
    # Database id of the stored message row, set once it is stored.
    message_id: int | None = None


DeliveryStatus = Literal["sent", "failed", "blocked_by_channel"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    status: DeliveryStatus
    detail: str | None = None


class ChannelSender(Protocol):
    """What the core needs from a channel to send a line after the first reply."""

    channel: str

    async def send(self, message: OutboundMessage) -> DeliveryResult: ...
