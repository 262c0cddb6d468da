"""千牛 / 京麦 bridge events: ``POST /bridge/v1/events``, one chat event per request.

A buyer's message becomes an `InboundMessage` of channel ``qianniu``
(taobao, tmall) or ``jd``; the customer is the buyer of that shop
(``shop_id:buyer_uid``).  The event is recorded (`BridgeEvent`, unique per
channel and event_id) in the transaction that stores the message, before the
answer: both or neither (a refused event leaves no row); the same
event again is a no-op answered the same way, the same event_id with other
content is refused (409).  Shop staff and system events are recorded only:
they are not customer input.  Every request is signed (`bridge_auth`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BeforeValidator, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.bridge_auth import BridgeIdentity, BridgeKeys, authenticate
from bot.channels.bridge_config import BRIDGE
from bot.channels.edge import read_body
from bot.context import SERVICES, Services
from bot.http import ApiError, json_object, json_response, validated
from bot.messages import InboundKind, InboundMessage
from bot.validation import Invalid, parse_moment
from bot.validation_models import Id, Model, Text
from storage.channel_models import BridgeEvent

# Platform → the channel name the rest of the bot knows (SPEC §4).
CHANNEL_OF_PLATFORM: Mapping[str, str] = {"taobao": "qianniu", "tmall": "qianniu", "jd": "jd"}
SENDER_ROLES = frozenset({"buyer", "shop_staff", "system"})
# msg_type → the core's message kind and the transcript text when there is no text.
MSG_TYPES: Mapping[str, tuple[InboundKind, str]] = {
    "text": ("text", ""),
    "image": ("image", "[图片]"),
    "voice": ("voice", "[语音]"),
    "video": ("video", "[视频]"),
    "file": ("file", "[文件]"),
    "link": ("link", "[链接]"),
    "goods": ("link", "[商品]"),
    "order": ("text", "[订单]"),
    "event": ("event", ""),
}
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class BridgeEventIn:
    """A validated event body."""

    event_id: str
    platform: str
    shop_id: str
    conversation_id: str
    buyer_uid: str
    sender_role: str
    msg_type: str
    text: str
    platform_time: datetime
    payload: Mapping[str, Any]

    @property
    def channel(self) -> str:
        return CHANNEL_OF_PLATFORM[self.platform]

    @property
    def customer_key(self) -> str:
        return f"{self.shop_id}:{self.buyer_uid}"


def bad_field(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_field", f"{name}: {message}", field=name)


def choice(data: Mapping[str, Any], name: str, allowed: Any) -> str:
    value = data.get(name)
    if value is None:
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    if not isinstance(value, str) or value not in allowed:
        raise bad_field(name, f"must be one of {', '.join(sorted(allowed))}")
    return value


def _platform_time(value: Any) -> datetime:
    # A naive time is the platforms' own: Asia/Shanghai (as in transcripts, SPEC §4).
    return parse_moment(value, naive_tz=SHANGHAI)


def _order(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("must be an object (order_id, status, items …)")
    if len(json.dumps(value, ensure_ascii=False)) > 4096:
        raise Invalid("is larger than 4096 characters")
    order_id = value.get("order_id")
    if order_id is not None and (isinstance(order_id, bool) or not isinstance(order_id, str | int)):
        raise Invalid("order_id must be a string")
    return value


_Ident = Annotated[Text, StringConstraints(pattern=r"^[^\s\x00-\x1f]{1,64}$")]


class MediaIn(Model):
    type: Annotated[Text, StringConstraints(max_length=200)]
    url: Annotated[Text, StringConstraints(max_length=2048)]


class EventBody(Model):
    """``POST /bridge/v1/events``: one chat event (docs/bridge.md), by the rules of
    `bot.validation`; `text`'s length is checked against the app's limit after."""

    event_id: Annotated[Text, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    platform: Literal["taobao", "tmall", "jd"]
    shop_id: _Ident
    conversation_id: Annotated[Text, StringConstraints(pattern=r"^[^\s\x00-\x1f]{1,128}$")]
    buyer_uid: _Ident
    sender_role: Literal["buyer", "shop_staff", "system"]
    msg_type: Literal["text", "image", "voice", "video", "file", "link", "goods", "order", "event"]
    text: Text = ""
    buyer_nick: Annotated[Text, StringConstraints(max_length=64)] | None = None
    media: list[MediaIn] = Field(default_factory=list, max_length=10)
    order: Annotated[dict[str, Any], BeforeValidator(_order)] | None = None
    command_id: Id | None = None
    platform_time: Annotated[datetime, BeforeValidator(_platform_time)]


def parse_event(raw: bytes, max_text_chars: int) -> BridgeEventIn:
    """A validated event, or an `ApiError` (400) naming the field."""
    body = validated(EventBody, json_object(raw, "one event as a JSON object"))
    text = body.text.strip()
    if len(text) > max_text_chars:
        raise ApiError(
            400, "field_too_long", f"text is longer than {max_text_chars} characters", field="text"
        )
    if body.msg_type == "text" and not text:
        raise ApiError(400, "missing_field", "text is required for msg_type text", field="text")
    payload: dict[str, Any] = {
        "text": text,
        "media": [{"type": item.type[:32], "url": item.url} for item in body.media],
    }
    if body.order is not None:
        payload["order"] = body.order
    if body.buyer_nick:
        payload["buyer_nick"] = body.buyer_nick
    if body.command_id is not None:
        payload["command_id"] = body.command_id
    return BridgeEventIn(
        event_id=body.event_id,
        platform=body.platform,
        shop_id=body.shop_id,
        conversation_id=body.conversation_id,
        buyer_uid=body.buyer_uid,
        sender_role=body.sender_role,
        msg_type=body.msg_type,
        text=text,
        platform_time=body.platform_time,
        payload=payload,
    )


def _digest(event: BridgeEventIn) -> str:
    """The event's content, canonically (a resend re-serialised differently still matches)."""
    canonical = {
        "event_id": event.event_id,
        "platform": event.platform,
        "shop_id": event.shop_id,
        "conversation_id": event.conversation_id,
        "buyer_uid": event.buyer_uid,
        "sender_role": event.sender_role,
        "msg_type": event.msg_type,
        "platform_time": event.platform_time.isoformat(),
        "payload": event.payload,
    }
    encoded = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _transcript_text(event: BridgeEventIn) -> str:
    if event.text:
        return event.text
    placeholder = MSG_TYPES[event.msg_type][1]
    order = event.payload.get("order")
    if event.msg_type == "order" and isinstance(order, dict) and order.get("order_id"):
        return f"{placeholder} {order['order_id']}"
    return placeholder


async def authenticated(
    request: web.Request, body: bytes, keys: BridgeKeys, max_skew_s: float
) -> BridgeIdentity:
    """The key that signed the request (see `bridge_auth`), or a 401/403 `ApiError`."""
    return await authenticate(
        request.method,
        request.raw_path,
        request.headers,
        body,
        keys=keys,
        services=request.app[SERVICES],
        max_skew_s=max_skew_s,
    )


@dataclass(slots=True)
class _Recorder:
    """Records the event in the transaction it is given (the message's own, for a buyer's
    message: the event, the customer and the message commit together or not at all)."""

    services: Services
    event: BridgeEventIn
    key_id: str
    digest: str
    new: bool = False

    async def __call__(self, session: AsyncSession) -> None:
        """Add the event's row; the same event again adds nothing, the same event_id with
        other content is a 409 (and rolls the transaction back)."""
        event = self.event
        stored = await session.scalar(
            select(BridgeEvent.body_sha256).where(
                BridgeEvent.channel == event.channel, BridgeEvent.event_id == event.event_id
            )
        )
        if stored is not None:
            if stored != self.digest:
                raise ApiError(
                    409,
                    "event_id_reused",
                    f"event_id {event.event_id!r} was already used for another event",
                    field="event_id",
                )
            self.new = False
            return
        session.add(
            BridgeEvent(
                channel=event.channel,
                event_id=event.event_id,
                key_id=self.key_id,
                platform=event.platform,
                shop_id=event.shop_id,
                conversation_id=event.conversation_id,
                buyer_uid=event.buyer_uid,
                customer_key=event.customer_key,
                sender_role=event.sender_role,
                msg_type=event.msg_type,
                body_sha256=self.digest,
                platform_time=event.platform_time,
                received_at=self.services.now(),
                payload=dict(event.payload),
            )
        )
        await session.flush()
        self.new = True

    async def alone(self) -> None:
        """Record an event that is not a customer message, in a transaction of its own."""
        for _attempt in range(2):
            try:
                async with self.services.tickets.transaction() as session:
                    await self(session)
                return
            except IntegrityError:
                continue  # a concurrent delivery of the same event: compare with it
        raise RuntimeError(f"could not record bridge event {self.event.event_id}")


async def post_event(request: web.Request) -> web.Response:
    """`POST /bridge/v1/events`: one chat event, stored before it is acknowledged."""
    services = request.app[SERVICES]
    endpoint = request.app[BRIDGE]
    body = await read_body(request)
    identity = await authenticated(
        request, body, endpoint.require_keys(), endpoint.config.max_skew_s
    )
    event = parse_event(body, services.settings.max_text_chars)
    if not identity.may_serve(event.platform, event.shop_id):
        raise ApiError(
            403,
            "shop_not_allowed",
            f"key {identity.key_id!r} may not speak for {event.platform}:{event.shop_id}",
        )
    record = _Recorder(services, event, identity.key_id, _digest(event))
    answer: dict[str, Any] = {"event_id": event.event_id}
    kind = MSG_TYPES[event.msg_type][0]
    if event.sender_role != "buyer" or kind == "event":
        # Shop staff typing in 千牛 directly, echoes of our own lines, system
        # notices: kept for the record, not customer input.
        await record.alone()
        answer.update(duplicate=not record.new, customer_message=False)
        return json_response(answer)
    media = event.payload.get("media") or []
    display = event.payload.get("buyer_nick")
    inbound = InboundMessage(
        channel=event.channel,
        customer_id=event.customer_key,
        external_id=event.event_id,
        sent_at=event.platform_time,
        kind=kind,
        text=_transcript_text(event),
        display_name=display if isinstance(display, str) else None,
        media_url=media[0]["url"] if media else None,
        raw={"platform": event.platform, "conversation_id": event.conversation_id},
    )
    # The event's record, the customer and the message in one transaction.
    receipt = await services.tickets.receive(inbound, before=record)
    for reply in receipt.replies:
        await services.tickets.deliver(reply)
    answer.update(
        customer_message=True,
        duplicate=receipt.duplicate,
        ticket=receipt.ticket_number,
        message_id=receipt.message_id,
    )
    return json_response(answer)
