"""Sending a stored line again, on the engineer's word, and saying what that risks.

A line whose delivery is ``unknown`` (the channel may have it), ``failed`` or
``blocked_by_channel`` is shown to the engineer with a "send again" action
(the console's delivery page).  Nothing here resends on its own: only kf's
reconciliation does (`WeComKfSender.reconcile`), because only kf's msgid makes
a repeat harmless.  What a repeat risks depends on the channel, and the
engineer reads it before choosing (`resend_risk`):

- 公众号 custom/send has no idempotency key: a line WeChat did take reaches
  the customer twice, and each send uses one of the five lines the 48 h
  window allows;
- 微信客服 sends under the line's own msgid: WeCom refuses a repeat, so the
  customer gets it at most once;
- the 千牛 / 京麦 bridge queues a new command: if the bridge did type the
  first one, the customer sees it twice;
- the web chat stores the line for the page: nothing is ever lost.

An ``unknown`` line can also be settled without sending (`confirm_received`):
the engineer saw in the conversation, or heard from the customer, that it
arrived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from bot.context import Services
from bot.lifecycle import EventKind
from bot.messages import DeliveryResult, OutboundMessage
from storage.models import Customer, DeliveryStatus, Engineer, Message, MessageRole, Ticket

log = logging.getLogger("bot.channels")

# What may be sent again: not known to have arrived.
RESENDABLE = frozenset(
    {
        DeliveryStatus.UNKNOWN,
        DeliveryStatus.FAILED,
        DeliveryStatus.BLOCKED_BY_CHANNEL,
        DeliveryStatus.PENDING,
    }
)
# What the engineer may settle as received: the channel may have it.
CONFIRMABLE = frozenset({DeliveryStatus.UNKNOWN, DeliveryStatus.PENDING})

_WINDOW = "并占用客户最后一条消息后48小时内最多5条的名额中的一条"
_RISKS: dict[tuple[str, DeliveryStatus], str] = {
    ("wechat", DeliveryStatus.UNKNOWN): (
        "微信没有确认是否收到这条消息（超时或服务器错误）。公众号客服消息没有去重标识："
        f"如果客户其实已经收到，再次发送会让客户收到两条，{_WINDOW}。请先确认客户是否已收到。"
    ),
    ("wechat", DeliveryStatus.FAILED): f"上次发送失败，微信没有收下这条消息。再次发送{_WINDOW}。",
    ("wechat", DeliveryStatus.BLOCKED_BY_CHANNEL): (
        "微信按客服消息规则拒绝了这条消息（超过48小时、已发满5条或客户已取消关注）。"
        "客户再次发来消息之前，再次发送仍会被拒绝。"
    ),
    ("wecom", DeliveryStatus.UNKNOWN): (
        "企业微信没有确认是否收到这条消息。再次发送使用同一个消息ID，企业微信拒收重复的消息，"
        "客户最多收到一次；系统也会定时自动核对。"
    ),
    (
        "wecom",
        DeliveryStatus.FAILED,
    ): f"上次发送失败，企业微信没有收下这条消息。再次发送{_WINDOW}。",
    ("wecom", DeliveryStatus.BLOCKED_BY_CHANNEL): (
        "企业微信按会话规则拒绝了这条消息（会话已由他人接待或已结束、超过48小时或已发满5条）。"
        "客户再次发来消息之前，再次发送多半仍会被拒绝。"
    ),
    ("bridge", DeliveryStatus.UNKNOWN): (
        "千牛/京麦桥接程序无法确认客户是否收到。再次发送会排入一条新的待发命令："
        "如果客户已经收到，会看到两条。请先在千牛/京麦里查看这段对话。"
    ),
    ("bridge", DeliveryStatus.FAILED): "桥接程序没有发出这条消息。再次发送会排入一条新的待发命令。",
    ("bridge", DeliveryStatus.BLOCKED_BY_CHANNEL): (
        "找不到客户的千牛/京麦对话（客户资料可能已删除）。再次发送多半仍会失败。"
    ),
}
_CHANNEL_FAMILY = {"qianniu": "bridge", "jd": "bridge"}
_GENERIC = "无法确认客户是否收到。再次发送时，如果客户已经收到，会收到两条。"


def resend_risk(channel: str, status: DeliveryStatus) -> str:
    """What sending a line of `channel` in `status` again risks, in the engineer's words."""
    if channel == "web":
        return "网页聊天的消息保存后由客户的页面读取，不会丢失；无需再次发送。"
    if status is DeliveryStatus.PENDING:
        status = DeliveryStatus.UNKNOWN  # handed over, outcome never recorded
    return _RISKS.get((_CHANNEL_FAMILY.get(channel, channel), status), _GENERIC)


@dataclass(frozen=True, slots=True)
class UndeliveredLine:
    """A stored agent line with what the engineer needs to decide about it."""

    message_id: int
    ticket_number: str
    channel: str
    text: str
    status: DeliveryStatus
    detail: str | None
    attempts: int
    customer_id: str
    staff_no: str | None
    prompted_by: str | None
    assigned_staff_no: str | None
    # "text", or "image" / "file" for an engineer's upload (whose text is only its label).
    kind: str = "text"

    @property
    def risk(self) -> str:
        return resend_risk(self.channel, self.status)

    @property
    def resendable(self) -> bool:
        # An image or file is never sent again as its 「[图片]」 label: the engineer
        # uploads it again (a new line) or confirms it arrived.
        return self.status in RESENDABLE and self.channel != "web" and self.kind == "text"

    @property
    def confirmable(self) -> bool:
        return self.status in CONFIRMABLE


async def undelivered_line(
    services: Services, number: str, message_id: int
) -> UndeliveredLine | None:
    """The agent line `message_id` of ticket `number`; None when there is no such line."""
    async with services.sessionmaker() as session:
        row = (
            await session.execute(
                select(Message, Customer.external_id, Engineer.staff_no)
                .join(Ticket, Message.ticket_id == Ticket.id)
                .join(Customer, Ticket.customer_id == Customer.id)
                .outerjoin(Engineer, Ticket.assigned_engineer_id == Engineer.id)
                .where(
                    Message.id == message_id,
                    Ticket.number == number,
                    Message.role == MessageRole.AGENT,
                )
            )
        ).first()
    if row is None:
        return None
    message, customer_id, assigned = row
    return UndeliveredLine(
        message_id=message.id,
        ticket_number=number,
        channel=message.channel,
        text=message.text,
        status=message.delivery_status or DeliveryStatus.PENDING,
        detail=message.delivery_error,
        attempts=message.delivery_attempts or 0,
        customer_id=str(customer_id),
        staff_no=message.sender,
        prompted_by=message.prompted_by,
        assigned_staff_no=assigned,
        kind=message.kind or "text",
    )


async def _journal(
    services: Services, line: UndeliveredLine, kind: EventKind, staff_no: str
) -> None:
    await services.tickets.journal_line(line.message_id, kind, staff_no, {"was": line.status.value})


async def send_again(services: Services, line: UndeliveredLine, staff_no: str) -> DeliveryResult:
    """Hand the stored line to its channel once more (the engineer chose to, having read
    `line.risk`); the outcome is recorded on the line like any delivery."""
    if not line.resendable:
        raise ValueError(f"line {line.message_id} is {line.status.value}: nothing to send again")
    await _journal(services, line, EventKind.DELIVERY_RETRIED, staff_no)
    log.info("line %d sent again by %s (was %s)", line.message_id, staff_no, line.status.value)
    return await services.tickets.deliver(
        OutboundMessage(
            channel=line.channel,
            customer_id=line.customer_id,
            text=line.text,
            staff_no=line.staff_no,
            ticket_number=line.ticket_number,
            prompted_by=line.prompted_by,
            message_id=line.message_id,
        )
    )


async def confirm_received(services: Services, line: UndeliveredLine, staff_no: str) -> None:
    """Settle an ``unknown`` line as sent on the engineer's word (the customer has it)."""
    if not line.confirmable:
        raise ValueError(f"line {line.message_id} is {line.status.value}: nothing to confirm")
    await _journal(services, line, EventKind.DELIVERY_CONFIRMED, staff_no)
    await services.tickets.record_delivery(
        line.message_id, DeliveryResult("sent", f"confirmed received by {staff_no}")
    )
