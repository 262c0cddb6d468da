"""The 千牛 (Taobao / Tmall) and 京麦 (JD) channels, through a bridge on the shop's PC.

Neither platform offers an API for its customer-service chat, so a small
program on the PC where 千牛 or 京麦 runs (the *bridge*; a reference one is
`bot.channels.bridge_client`) reads the chat and posts what happens to the
bot, and pulls the lines the bot has for it.  The contract is in
``docs/bridge.md``; every request is signed (`bot.channels.bridge_auth`).

- ``POST /bridge/v1/events`` — one chat event.  A buyer's message becomes an
  `InboundMessage` of channel ``qianniu`` (taobao, tmall) or ``jd``; the
  customer is the buyer of that shop (``shop_id:buyer_uid``).  The event is
  recorded (`BridgeEvent`, unique per channel and event_id) and the message
  stored before the answer; the same event again is a no-op answered the
  same way, the same event_id with other content is refused (409).  Shop
  staff and system events are recorded only: they are not customer input.
- ``GET /bridge/v1/commands?wait=S&limit=N`` — long poll for lines to type.
  Each is leased to the polling bridge (`BridgeCommand`: queued → delivered)
  with a conditional UPDATE, so two polls never get the same line; a lease
  that runs out with no result is offered again, same id, a bounded number
  of times (the bridge keeps a journal of ids it acted on and answers a
  repeat from it), then marked ``unknown``.
- ``POST /bridge/v1/commands/{id}/result`` — ``submitted``, ``confirmed``,
  ``unknown`` or ``rejected``.  ``unknown`` (the bridge cannot tell whether
  the customer got it) is final for the bot: never resent automatically,
  recorded on the line as failed with that reason so the engineer checks
  the conversation; a later ``confirmed`` still corrects it.

Sending (`BridgeSender`) is queueing a command at the conversation the
customer last wrote from; the line counts as handed to the channel, like a
web chat line stored for the page.  A command is offered only once the
core has recorded that hand-over, so a quick result cannot be overwritten
by it.

Configuration (environment): ``AFTERSALES_BRIDGE_KEYS`` (``key_id=secret,…``;
keys limited to shops live in the ``bridge_keys`` table),
``AFTERSALES_BRIDGE_MAX_SKEW_S`` (300), ``AFTERSALES_BRIDGE_POLL_MAX_S`` (25),
``AFTERSALES_BRIDGE_LEASE_S`` (120), ``AFTERSALES_BRIDGE_MAX_ATTEMPTS`` (3).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.channels.bridge_auth import BridgeIdentity, BridgeKeys, authenticate, parse_env_keys
from bot.context import SERVICES, SETTINGS, Services
from bot.http import ApiError, json_response
from bot.messages import DeliveryResult, InboundKind, InboundMessage, OutboundMessage
from bot.settings import SettingsError
from storage.channel_models import BridgeCommand, BridgeCommandStatus, BridgeEvent
from storage.models import DeliveryStatus, Message

log = logging.getLogger("bot.channels.bridge")

PREFIX = "/bridge/v1"
# Platform → the channel name the rest of the bot knows (SPEC §4).
CHANNEL_OF_PLATFORM: Mapping[str, str] = {"taobao": "qianniu", "tmall": "qianniu", "jd": "jd"}
CHANNELS: tuple[str, ...] = ("qianniu", "jd")
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
_COMMAND_ID = re.compile(r"[0-9]{1,18}")
# Of a result report: how far each status may still move.
RESULT_STATUSES = frozenset({"submitted", "confirmed", "unknown", "rejected"})
S = BridgeCommandStatus
_TRANSITIONS: Mapping[BridgeCommandStatus, frozenset[BridgeCommandStatus]] = {
    S.DELIVERED: frozenset({S.SUBMITTED, S.CONFIRMED, S.UNKNOWN, S.REJECTED}),
    S.SUBMITTED: frozenset({S.CONFIRMED, S.UNKNOWN}),
    # A bridge may find the line in the chat after all; never the other way.
    S.UNKNOWN: frozenset({S.CONFIRMED}),
    S.CONFIRMED: frozenset(),
    S.REJECTED: frozenset(),
}
# A command is offered once the core recorded its hand-over; a command whose
# record never came (a crash in between) is offered after this long anyway.
HANDOVER_GRACE = timedelta(seconds=10)


# ------------------------------------------------------------------ config --


def _env_number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: at least {minimum:g}, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """The bridge endpoints' settings, validated."""

    env_keys: Mapping[str, str] = field(default_factory=dict)
    max_skew_s: float = 300
    poll_max_s: float = 25
    lease_s: float = 120
    max_attempts: int = 3

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> BridgeConfig:
        attempts = _env_number(environ, "AFTERSALES_BRIDGE_MAX_ATTEMPTS", 3, 1)
        if attempts != int(attempts):
            raise SettingsError(f"AFTERSALES_BRIDGE_MAX_ATTEMPTS: a whole number, got {attempts}")
        return cls(
            env_keys=parse_env_keys(environ.get("AFTERSALES_BRIDGE_KEYS", "")),
            max_skew_s=_env_number(environ, "AFTERSALES_BRIDGE_MAX_SKEW_S", 300, 10),
            poll_max_s=_env_number(environ, "AFTERSALES_BRIDGE_POLL_MAX_S", 25, 0),
            lease_s=_env_number(environ, "AFTERSALES_BRIDGE_LEASE_S", 120, 5),
            max_attempts=int(attempts),
        )


class CommandNotifier:
    """Wakes this process's long polls when a command was queued here."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(timeout, 0))


@dataclass(slots=True)
class BridgeEndpoint:
    config: BridgeConfig
    notifier: CommandNotifier = field(default_factory=CommandNotifier)
    keys: BridgeKeys | None = None

    def require_keys(self) -> BridgeKeys:
        if self.keys is None:  # pragma: no cover - set by the cleanup context before serving
            raise ApiError(503, "not_ready", "the bridge endpoints are not ready yet")
        return self.keys


BRIDGE = web.AppKey("bridge", BridgeEndpoint)


# ------------------------------------------------------------------ events --


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


def _bad(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_field", f"{name}: {message}", field=name)


def _ident(data: Mapping[str, Any], name: str, pattern: re.Pattern[str] = _IDENT) -> str:
    value = data.get(name)
    if value is None:
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _bad(name, f"must be a string matching {pattern.pattern}")
    return value


def _choice(data: Mapping[str, Any], name: str, allowed: Any) -> str:
    value = data.get(name)
    if value is None:
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    if not isinstance(value, str) or value not in allowed:
        raise _bad(name, f"must be one of {', '.join(sorted(allowed))}")
    return value


def _platform_time(data: Mapping[str, Any]) -> datetime:
    value = data.get("platform_time")
    if value is None:
        raise ApiError(400, "missing_field", "platform_time is required", field="platform_time")
    if not isinstance(value, str) or len(value) > 40:
        raise _bad("platform_time", "must be an ISO 8601 time, e.g. 2026-11-23T09:31:00+08:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _bad("platform_time", f"not an ISO 8601 time: {value!r}") from None
    # A naive time is the platforms' own: Asia/Shanghai (as in transcripts, SPEC §4).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)


def _media(data: Mapping[str, Any]) -> list[dict[str, str]]:
    value = data.get("media", [])
    if not isinstance(value, list) or len(value) > 10:
        raise _bad("media", "must be a list of at most 10 {type, url} objects")
    media: list[dict[str, str]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _bad(f"media[{index}]", "must be an object with type and url")
        kind, url = item.get("type"), item.get("url")
        if not isinstance(kind, str) or not isinstance(url, str) or len(url) > 2048:
            raise _bad(f"media[{index}]", "needs string type and url (url up to 2048 characters)")
        media.append({"type": kind[:32], "url": url})
    return media


def _order(data: Mapping[str, Any]) -> dict[str, Any] | None:
    value = data.get("order")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("order", "must be an object (order_id, status, items …)")
    if len(json.dumps(value, ensure_ascii=False)) > 4096:
        raise _bad("order", "is larger than 4096 characters")
    order_id = value.get("order_id")
    if order_id is not None and not isinstance(order_id, str | int):
        raise _bad("order.order_id", "must be a string")
    return value


def parse_event(raw: bytes, max_text_chars: int) -> BridgeEventIn:
    """A validated event, or an `ApiError` (400) naming the field."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "bad_encoding", "request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"not valid JSON at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", "expected one event as a JSON object")
    msg_type = _choice(data, "msg_type", MSG_TYPES)
    text = data.get("text", "")
    if not isinstance(text, str):
        raise _bad("text", "must be a string")
    text = text.strip()
    if len(text) > max_text_chars:
        raise ApiError(
            400, "field_too_long", f"text is longer than {max_text_chars} characters", field="text"
        )
    if msg_type == "text" and not text:
        raise ApiError(400, "missing_field", "text is required for msg_type text", field="text")
    display_name = data.get("buyer_nick")
    if display_name is not None and (not isinstance(display_name, str) or len(display_name) > 64):
        raise _bad("buyer_nick", "must be a string of at most 64 characters")
    payload: dict[str, Any] = {"text": text, "media": _media(data)}
    order = _order(data)
    if order is not None:
        payload["order"] = order
    if display_name:
        payload["buyer_nick"] = display_name
    command_id = data.get("command_id")
    if command_id is not None:
        if not isinstance(command_id, int):
            raise _bad("command_id", "must be the integer id of the command this echoes")
        payload["command_id"] = command_id
    return BridgeEventIn(
        event_id=_ident(data, "event_id", _EVENT_ID),
        platform=_choice(data, "platform", CHANNEL_OF_PLATFORM),
        shop_id=_ident(data, "shop_id"),
        conversation_id=_ident(data, "conversation_id", re.compile(r"[^\s\x00-\x1f]{1,128}")),
        buyer_uid=_ident(data, "buyer_uid"),
        sender_role=_choice(data, "sender_role", SENDER_ROLES),
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


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"body is over the {limit}-byte limit")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"body is over the {limit}-byte limit") from None


async def _authenticated(request: web.Request, body: bytes) -> BridgeIdentity:
    endpoint = request.app[BRIDGE]
    return await authenticate(
        request.method,
        request.raw_path,
        request.headers,
        body,
        keys=endpoint.require_keys(),
        services=request.app[SERVICES],
        max_skew_s=endpoint.config.max_skew_s,
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
    body = await _read_body(request)
    identity = await _authenticated(request, body)
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


# ---------------------------------------------------------------- commands --


def command_to_dict(command: BridgeCommand) -> dict[str, Any]:
    """A command as the bridge receives it."""
    return {
        "id": command.id,
        "platform": command.platform,
        "shop_id": command.shop_id,
        "conversation_id": command.conversation_id,
        "buyer_uid": command.buyer_uid,
        "text": command.text,
        "attempt": command.attempts,
        "lease_until": command.lease_until.isoformat() if command.lease_until else None,
    }


class CommandQueue:
    """Leasing, expiring and reporting bridge commands (shared by every bridge request)."""

    def __init__(self, services: Services, config: BridgeConfig) -> None:
        self._services = services
        self._config = config

    def _offerable(self, now: datetime) -> Any:
        lease_over = and_(
            BridgeCommand.status == S.DELIVERED,
            BridgeCommand.lease_until < now,
            BridgeCommand.attempts < self._config.max_attempts,
        )
        handed_over = or_(
            BridgeCommand.message_id.is_(None),
            Message.delivery_status.is_(None),
            Message.delivery_status != DeliveryStatus.PENDING,
            BridgeCommand.created_at < now - HANDOVER_GRACE,
        )
        return and_(or_(BridgeCommand.status == S.QUEUED, lease_over), handed_over)

    async def lease(self, identity: BridgeIdentity, limit: int) -> list[BridgeCommand]:
        """Up to `limit` commands for the bridge's shops, leased to it."""
        now = self._services.now()
        async with self._services.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(BridgeCommand.id, BridgeCommand.platform, BridgeCommand.shop_id)
                    .outerjoin(Message, BridgeCommand.message_id == Message.id)
                    .where(self._offerable(now))
                    .order_by(BridgeCommand.id)
                    .limit(limit * 4)
                )
            ).all()
        leased: list[BridgeCommand] = []
        until = now + timedelta(seconds=self._config.lease_s)
        for command_id, platform, shop_id in rows:
            if len(leased) >= limit:
                break
            if not identity.may_serve(platform, shop_id):
                continue
            async with self._services.tickets.transaction() as session:
                result = await session.execute(
                    update(BridgeCommand)
                    .where(
                        BridgeCommand.id == command_id,
                        or_(
                            BridgeCommand.status == S.QUEUED,
                            and_(
                                BridgeCommand.status == S.DELIVERED,
                                BridgeCommand.lease_until < now,
                            ),
                        ),
                    )
                    .values(
                        status=S.DELIVERED,
                        leased_by=identity.key_id,
                        lease_until=until,
                        attempts=BridgeCommand.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) != 1:
                    continue  # another poll took it
                command = await session.get(BridgeCommand, command_id)
                assert command is not None
                leased.append(command)
        return leased

    async def expire(self) -> int:
        """Commands offered `max_attempts` times without any result become ``unknown``."""
        now = self._services.now()
        async with self._services.sessionmaker() as session:
            overdue = (
                await session.execute(
                    select(BridgeCommand.id, BridgeCommand.message_id).where(
                        BridgeCommand.status == S.DELIVERED,
                        BridgeCommand.lease_until < now,
                        BridgeCommand.attempts >= self._config.max_attempts,
                    )
                )
            ).all()
        expired = 0
        for command_id, message_id in overdue:
            detail = (
                f"no result after {self._config.max_attempts} deliveries to the bridge; "
                "not resent (the customer may have it): check the conversation"
            )
            async with self._services.tickets.transaction() as session:
                result = await session.execute(
                    update(BridgeCommand)
                    .where(BridgeCommand.id == command_id, BridgeCommand.status == S.DELIVERED)
                    .values(status=S.UNKNOWN, result_detail=detail, reported_at=now)
                    .execution_options(synchronize_session=False)
                )
                changed = getattr(result, "rowcount", 0) == 1
            if changed and message_id is not None:
                expired += 1
                await self._services.tickets.record_delivery(
                    message_id, DeliveryResult("failed", f"unknown: {detail}")
                )
        return expired

    async def report(
        self,
        identity: BridgeIdentity,
        command_id: int,
        status: BridgeCommandStatus,
        detail: str | None,
        platform_msg_id: str | None,
    ) -> tuple[BridgeCommand, bool]:
        """Apply a result report; (the command, whether anything changed)."""
        async with self._services.sessionmaker() as session:
            command = await session.get(BridgeCommand, command_id)
        if command is None or not identity.may_serve(command.platform, command.shop_id):
            raise ApiError(404, "no_such_command", f"command {command_id} does not exist")
        if command.status is S.QUEUED or command.leased_by != identity.key_id:
            raise ApiError(
                409,
                "not_delivered",
                f"command {command_id} was not handed to key {identity.key_id}",
            )
        current = command.status
        if status is current:
            return command, False
        if status not in _TRANSITIONS[current]:
            raise ApiError(
                409,
                "bad_transition",
                f"command {command_id} is {current.value}; it cannot become {status.value}",
            )
        now = self._services.now()
        async with self._services.tickets.transaction() as session:
            result = await session.execute(
                update(BridgeCommand)
                .where(BridgeCommand.id == command_id, BridgeCommand.status == current)
                .values(
                    status=status,
                    result_detail=detail,
                    platform_msg_id=platform_msg_id or command.platform_msg_id,
                    reported_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise ApiError(409, "concurrent_report", "the command changed meanwhile; retry")
            fresh = await session.get(BridgeCommand, command_id)
            assert fresh is not None
        if command.message_id is not None:
            outcome = _delivery_outcome(current, status, detail)
            if outcome is not None:
                await self._services.tickets.record_delivery(command.message_id, outcome)
        log.info("bridge command %d: %s -> %s", command_id, current.value, status.value)
        return fresh, True


def _delivery_outcome(
    before: BridgeCommandStatus, after: BridgeCommandStatus, detail: str | None
) -> DeliveryResult | None:
    """What a result means for the stored line (None: nothing new to record)."""
    suffix = f": {detail}" if detail else ""
    if after is S.REJECTED:
        return DeliveryResult("failed", f"rejected by the bridge{suffix}")
    if after is S.UNKNOWN:
        return DeliveryResult(
            "failed",
            "unknown: the bridge cannot tell whether the customer got it; not resent, "
            f"check the conversation{suffix}",
        )
    if after is S.CONFIRMED and before is S.UNKNOWN:
        return DeliveryResult("sent", f"confirmed by the bridge after unknown{suffix}")
    return None


def _query_number(
    request: web.Request, name: str, default: float, low: float, high: float
) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, "bad_query", f"{name} must be a number", field=name) from None
    if not low <= value <= high:
        raise ApiError(400, "bad_query", f"{name} must be between {low:g} and {high:g}", field=name)
    return value


async def get_commands(request: web.Request) -> web.Response:
    """`GET /bridge/v1/commands`: lines to type, leased to the polling bridge (long poll)."""
    endpoint = request.app[BRIDGE]
    body = await _read_body(request)
    identity = await _authenticated(request, body)
    wait = _query_number(request, "wait", 0, 0, endpoint.config.poll_max_s)
    limit = int(_query_number(request, "limit", 10, 1, 50))
    queue = CommandQueue(request.app[SERVICES], endpoint.config)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        await queue.expire()
        leased = await queue.lease(identity, limit)
        remaining = deadline - loop.time()
        if leased or remaining <= 0:
            break
        # Woken at once for a command queued by this process; another
        # process's commands are found by the next look, within half a second.
        await endpoint.notifier.wait(min(0.5, remaining))
    return json_response({"commands": [command_to_dict(c) for c in leased]})


async def post_result(request: web.Request) -> web.Response:
    """`POST /bridge/v1/commands/{id}/result`: what the bridge did with a command."""
    endpoint = request.app[BRIDGE]
    body = await _read_body(request)
    identity = await _authenticated(request, body)
    raw_id = request.match_info["command_id"]
    if not _COMMAND_ID.fullmatch(raw_id):
        raise ApiError(404, "no_such_command", f"command {raw_id[:20]!r} does not exist")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "malformed_json", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", "the body must be a JSON object")
    status = _choice(data, "status", RESULT_STATUSES)
    detail = data.get("detail")
    if detail is not None and (not isinstance(detail, str) or len(detail) > 1000):
        raise _bad("detail", "must be a string of at most 1000 characters")
    platform_msg_id = data.get("platform_msg_id")
    if platform_msg_id is not None and (
        not isinstance(platform_msg_id, str) or len(platform_msg_id) > 128
    ):
        raise _bad("platform_msg_id", "must be a string of at most 128 characters")
    queue = CommandQueue(request.app[SERVICES], endpoint.config)
    command, changed = await queue.report(
        identity, int(raw_id), BridgeCommandStatus(status), detail, platform_msg_id
    )
    return json_response({"id": command.id, "status": command.status.value, "changed": changed})


# ------------------------------------------------------------------ sender --


class BridgeSender:
    """`ChannelSender` for ``qianniu`` or ``jd``: queue a command for the bridge."""

    def __init__(self, channel: str, services: Services, notifier: CommandNotifier) -> None:
        self.channel = channel
        self._services = services
        self._notifier = notifier

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if message.message_id is None:
            return DeliveryResult("failed", "bridge lines are queued after they are stored")
        async with self._services.sessionmaker() as session:
            address = (
                await session.execute(
                    select(BridgeEvent)
                    .where(
                        BridgeEvent.channel == self.channel,
                        BridgeEvent.customer_key == message.customer_id,
                        BridgeEvent.sender_role == "buyer",
                    )
                    .order_by(BridgeEvent.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
        if address is None:
            return DeliveryResult(
                "blocked_by_channel",
                "no 千牛/京麦 conversation is known for this customer (data deleted?)",
            )
        try:
            async with self._services.tickets.transaction() as session:
                command = BridgeCommand(
                    message_id=message.message_id,
                    channel=self.channel,
                    platform=address.platform,
                    shop_id=address.shop_id,
                    conversation_id=address.conversation_id,
                    buyer_uid=address.buyer_uid,
                    text=message.text,
                    status=S.QUEUED,
                    attempts=0,
                    created_at=self._services.now(),
                )
                session.add(command)
                await session.flush()
                command_id = command.id
        except IntegrityError:
            # The same line handed over again: it already has its command.
            async with self._services.sessionmaker() as session:
                existing = await session.scalar(
                    select(BridgeCommand.id).where(BridgeCommand.message_id == message.message_id)
                )
            return DeliveryResult("sent", f"already queued for the bridge as command {existing}")
        self._notifier.wake()
        return DeliveryResult("sent", f"queued for the bridge as command {command_id}")


# ------------------------------------------------------------------- setup --


async def _channel_ctx(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[BRIDGE]
    services = app[SERVICES]
    endpoint.keys = BridgeKeys(endpoint.config.env_keys, services.sessionmaker)
    for channel in CHANNELS:
        services.senders.register(BridgeSender(channel, services, endpoint.notifier))
    try:
        yield
    finally:
        for channel in CHANNELS:
            services.senders.unregister(channel)
        endpoint.keys = None


def setup(app: web.Application) -> None:
    """Mount ``/bridge/v1/…`` and register the ``qianniu`` and ``jd`` senders with the core.

    Raises `SettingsError` (at app creation) for a bridge variable that is set but unusable.
    """
    config = BridgeConfig.from_environ(app[SETTINGS].environ)
    app[BRIDGE] = BridgeEndpoint(config=config)
    app.router.add_post(f"{PREFIX}/events", post_event)
    app.router.add_get(f"{PREFIX}/commands", get_commands)
    app.router.add_post(f"{PREFIX}/commands/{{command_id}}/result", post_result)
    app.cleanup_ctx.append(_channel_ctx)
    if not config.env_keys:
        log.info("bridge: no AFTERSALES_BRIDGE_KEYS; only keys in the bridge_keys table sign")


setup_bridge = setup
