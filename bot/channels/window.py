"""Where a customer stands in a channel's customer-service window.

WeChat (公众号 customer service, 48 h / 5 lines) and WeCom kf (48 h / 5 lines) both
limit what may be sent after the customer's last message.  Both count the same
way: agent lines of that customer's tickets after their last message whose
delivery is recorded as sent.  A passive reply (``answered``) does not use the
window, and is not counted.  Only confirmed sends count — not ``unknown`` ones —
so a gap in the record can let one line too many through (the channel then
refuses it, recorded as blocked) but never blocks a line the channel would take.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Customer, DeliveryStatus, Message, MessageRole, Ticket

__all__ = [
    "SERVICE_WINDOW",
    "SERVICE_WINDOW_MESSAGES",
    "LastMessage",
    "WindowState",
    "sends_since_last_message",
    "window_state",
]

# Both channels' rule: lines may follow a customer's message for 48 h, at most 5 of them.
SERVICE_WINDOW = timedelta(hours=48)
SERVICE_WINDOW_MESSAGES = 5


@dataclass(frozen=True, slots=True)
class WindowState:
    """The customer's last message time and the lines sent to them since."""

    last_customer_at: datetime | None
    sent_since: int

    def refusal(self, now: datetime, platform: str) -> str | None:
        """Why the channel would refuse one more line now; None while the window is open."""
        if self.last_customer_at is None:
            return "the customer has not written to the account: no service window is open"
        if now >= self.last_customer_at + SERVICE_WINDOW:
            return (
                "outside the 48 h customer-service window "
                f"(last customer message {self.last_customer_at.isoformat()})"
            )
        if self.sent_since >= SERVICE_WINDOW_MESSAGES:
            return (
                f"{self.sent_since} lines already sent since the customer's last message "
                f"({platform} allows {SERVICE_WINDOW_MESSAGES} within 48 h)"
            )
        return None


@dataclass(frozen=True, slots=True)
class LastMessage:
    """The customer's last message and the agent lines confirmed sent after it."""

    message_id: int
    at: datetime
    sent_since: set[int]


async def sends_since_last_message(
    sessionmaker: async_sessionmaker[AsyncSession], channel: str, external_id: str
) -> LastMessage | None:
    """What the window of the customer `external_id` on `channel` is counted from;
    None when the customer never wrote (no window is open)."""
    tickets_of_customer = (
        select(Ticket.id)
        .join(Customer, Ticket.customer_id == Customer.id)
        .where(Customer.channel == channel, Customer.external_id == external_id)
    )
    async with sessionmaker() as session:
        last = (
            await session.execute(
                select(Message.id, Message.sent_at)
                .where(
                    Message.ticket_id.in_(tickets_of_customer),
                    Message.role == MessageRole.CUSTOMER,
                )
                .order_by(Message.sent_at.desc(), Message.id.desc())
                .limit(1)
            )
        ).first()
        if last is None:
            return None
        last_id, last_at = last
        sent = (
            await session.execute(
                select(Message.id).where(
                    Message.ticket_id.in_(tickets_of_customer),
                    Message.role == MessageRole.AGENT,
                    Message.id > last_id,
                    Message.delivery_status == DeliveryStatus.SENT,
                )
            )
        ).scalars()
        return LastMessage(message_id=last_id, at=last_at, sent_since=set(sent))


async def window_state(
    sessionmaker: async_sessionmaker[AsyncSession],
    channel: str,
    external_id: str,
    *,
    excluding: int | None = None,
) -> WindowState:
    """The customer's window, not counting the line `excluding` (the one about to be sent)."""
    last = await sends_since_last_message(sessionmaker, channel, external_id)
    if last is None:
        return WindowState(last_customer_at=None, sent_since=0)
    return WindowState(last_customer_at=last.at, sent_since=len(last.sent_since - {excluding}))
