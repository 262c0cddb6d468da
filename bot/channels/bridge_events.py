"""千牛 / 京麦 bridge events: ``POST /bridge/v1/events``, one chat event per request.

A buyer's message becomes an `InboundMessage` of channel ``qianniu``
(taobao, tmall) or ``jd``; the customer is the buyer of that shop
(``shop_id:buyer_uid``).  The event is recorded (`BridgeEvent`, unique per
channel and event_id) and the message stored before the answer; the same
event again is a no-op answered the same way, the same event_id with other
content is refused (409).  Shop staff and system events are recorded only:
they are not customer input.  Every request is signed (`bridge_auth`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.channels.bridge_auth import BridgeIdentity, BridgeKeys, authenticate
from bot.channels.bridge_config import BRIDGE
from bot.channels.edge import read_body
from bot.context import SERVICES, Services
from bot.http import ApiError, json_object, json_response
from bot.messages import InboundKind, InboundMessage
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
_EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_IDENT = re.compile(r"[^\s\x00-\x1f]{1,64}")


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


def _ident(data: Mapping[str, Any], name: str, pattern: re.Pattern[str] = _IDENT) -> str:
    value = data.get(name)
    if value is None:
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise bad_field(name, f"must be a string matching {pattern.pattern}")
    return value


def choice(data: Mapping[str, Any], name: str, allowed: Any) -> str:
    value = data.get(name)
    if value is None:
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    if not isinstance(value, str) or value not in allowed:
        raise bad_field(name, f"must be one of {', '.join(sorted(allowed))}")
    return value


def _platform_time(data: Mapping[str, Any]) -> datetime:
    value = data.get("platform_time")
    if value is None:
        raise ApiError(400, "missing_field", "platform_time is required", field="platform_time")
    if not isinstance(value, str) or len(value) > 40:
        raise bad_field("platform_time", "must be an ISO 8601 time, e.g. 2026-11-23T09:31:00+08:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_field("platform_time", f"not an ISO 8601 time: {value!r}") from None
    # A naive time is the platforms' own: Asia/Shanghai (as in transcripts, SPEC §4).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)


def _media(data: Mapping[str, Any]) -> list[dict[str, str]]:
    value = data.get("media", [])
    if not isinstance(value, list) or len(value) > 10:
        raise bad_field("media", "must be a list of at most 10 {type, url} objects")
    media: list[dict[str, str]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad_field(f"media[{index}]", "must be an object with type and url")
        kind, url = item.get("type"), item.get("url")
        if not isinstance(kind, str) or not isinstance(url, str) or len(url) > 2048:
            raise bad_field(
                f"media[{index}]", "needs string type and url (url up to 2048 characters)"
            )
        media.append({"type": kind[:32], "url": url})
    return media


def _order(data: Mapping[str, Any]) -> dict[str, Any] | None:
    value = data.get("order")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_field("order", "must be an object (order_id, status, items …)")
    if len(json.dumps(value, ensure_ascii=False)) > 4096:
        raise bad_field("order", "is larger than 4096 characters")
    order_id = value.get("order_id")
    if order_id is not None and not isinstance(order_id, str | int):
        raise bad_field("order.order_id", "must be a string")
    return value


def parse_event(raw: bytes, max_text_chars: int) -> BridgeEventIn:
    """A validated event, or an `ApiError` (400) naming the field."""
    data = json_object(raw, "one event as a JSON object")
    msg_type = choice(data, "msg_type", MSG_TYPES)
    text = data.get("text", "")
    if not isinstance(text, str):
        raise bad_field("text", "must be a string")
    text = text.strip()
    if len(text) > max_text_chars:
        raise ApiError(
            400, "field_too_long", f"text is longer than {max_text_chars} characters", field="text"
        )
    if msg_type == "text" and not text:
        raise ApiError(400, "missing_field", "text is required for msg_type text", field="text")
    display_name = data.get("buyer_nick")
    if display_name is not None and (not isinstance(display_name, str) or len(display_name) > 64):
        raise bad_field("buyer_nick", "must be a string of at most 64 characters")
    payload: dict[str, Any] = {"text": text, "media": _media(data)}
    order = _order(data)
    if order is not None:
        payload["order"] = order
    if display_name:
        payload["buyer_nick"] = display_name
    command_id = data.get("command_id")
    if command_id is not None:
        if not isinstance(command_id, int):
            raise bad_field("command_id", "must be the integer id of the command this echoes")
        payload["command_id"] = command_id
    return BridgeEventIn(
        event_id=_ident(data, "event_id", _EVENT_ID),
        platform=choice(data, "platform", CHANNEL_OF_PLATFORM),
        shop_id=_ident(data, "shop_id"),
        conversation_id=_ident(data, "conversation_id", re.compile(r"[^\s\x00-\x1f]{1,128}")),
        buyer_uid=_ident(data, "buyer_uid"),
        sender_role=choice(data, "sender_role", SENDER_ROLES),
        msg_type=msg_type,
        text=text,
        platform_time=_platform_time(data),
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


async def _record_event(services: Services, event: BridgeEventIn, key_id: str, digest: str) -> bool:
    """Record the event; True when it was new.  The same event_id with other content is 409."""
    for _attempt in range(2):
        async with services.sessionmaker() as session:
            stored = await session.scalar(
                select(BridgeEvent.body_sha256).where(
                    BridgeEvent.channel == event.channel, BridgeEvent.event_id == event.event_id
                )
            )
        if stored is not None:
            if stored != digest:
                raise ApiError(
                    409,
                    "event_id_reused",
                    f"event_id {event.event_id!r} was already used for another event",
                    field="event_id",
                )
            return False
        try:
            async with services.tickets.transaction() as session:
                session.add(
                    BridgeEvent(
                        channel=event.channel,
                        event_id=event.event_id,
                        key_id=key_id,
                        platform=event.platform,
                        shop_id=event.shop_id,
                        conversation_id=event.conversation_id,
                        buyer_uid=event.buyer_uid,
                        customer_key=event.customer_key,
                        sender_role=event.sender_role,
                        msg_type=event.msg_type,
                        body_sha256=digest,
                        platform_time=event.platform_time,
                        received_at=services.now(),
                        payload=dict(event.payload),
                    )
                )
            return True
        except IntegrityError:
            continue  # a concurrent delivery of the same event: compare with it
    raise RuntimeError(f"could not record bridge event {event.event_id}")  # pragma: no cover


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
    new = await _record_event(services, event, identity.key_id, _digest(event))
    answer: dict[str, Any] = {"event_id": event.event_id, "duplicate": not new}
    kind = MSG_TYPES[event.msg_type][0]
    if event.sender_role != "buyer" or kind == "event":
        # Shop staff typing in 千牛 directly, echoes of our own lines, system
        # notices: kept for the record, not customer input.
        answer["customer_message"] = False
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
    # Idempotent: a resend after a crash stores the message if the first did not.
    receipt = await services.tickets.receive(inbound)
    for reply in receipt.replies:
        await services.tickets.deliver(reply)
    answer.update(
        customer_message=True,
        duplicate=receipt.duplicate,
        ticket=receipt.ticket_number,
        message_id=receipt.message_id,
    )
    return json_response(answer)
