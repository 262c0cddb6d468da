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

# "unknown": a message type the channel added after this was written, stored as such.
InboundKind = Literal[
    "text", "image", "voice", "video", "file", "location", "link", "event", "unknown"
]


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
class OutboundMedia:
    """An image or file an engineer sends, stored on disk (`bot.media.store`)."""

    kind: str  # image / file
    path: str
    content_type: str
    filename: str | None = None


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
    # An image or file instead of (or with) the text; channels without media
    # support are never handed one (`bot.media.outbound`).
    media: OutboundMedia | None = None


# sent: the channel confirmed it took the line.  answered: it went back as the
# webhook's own answer (WeChat's passive reply), which WeChat never confirms.
# unknown: the call timed out or failed on the channel's side after the line
# may have been taken; never resent blindly.  failed / blocked_by_channel: the
# channel did not take it (a fault, or its own rules).
DeliveryStatus = Literal["sent", "answered", "failed", "blocked_by_channel", "unknown"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of one attempt to hand a line to its channel."""

    status: DeliveryStatus
    detail: str | None = None

    @property
    def problem(self) -> bool:
        """Whether the engineer has to look at the line (not sent or not known to be)."""
        return self.status not in ("sent", "answered")


class ChannelSender(Protocol):
    """What the core needs from a channel to send a line after the first reply."""

    channel: str

    async def send(self, message: OutboundMessage) -> DeliveryResult: ...
