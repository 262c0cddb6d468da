"""千牛 / 京麦 bridge commands: the lines the bridge types, and what became of them.

- ``GET /bridge/v1/commands?wait=S&limit=N`` — long poll for lines to type.
  Each is leased to the polling bridge (`BridgeCommand`: queued → delivered)
  with a conditional UPDATE, so two polls never get the same line; a lease
  that runs out with no result is offered again, same id, a bounded number
  of times (the bridge keeps a journal of ids it acted on and answers a
  repeat from it), then marked ``unknown``.
- ``POST /bridge/v1/commands/{id}/result`` — ``submitted``, ``confirmed``,
  ``unknown`` or ``rejected``.  ``unknown`` (the bridge cannot tell whether
  the customer got it) is final for the bot: never resent automatically,
  recorded on the line as ``unknown`` so the engineer checks the
  conversation; a later ``confirmed`` settles it as sent.

Sending (`BridgeSender`) is queueing a command at the conversation the
customer last wrote from; the line counts as handed to the channel, like a
web chat line stored for the page.  A command is offered only once the
core has recorded that hand-over, so a quick result cannot be overwritten
by it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.channels.bridge_auth import BridgeIdentity
from bot.channels.bridge_config import BRIDGE, BridgeConfig, CommandNotifier
from bot.channels.bridge_events import authenticated, bad_field, choice
from bot.channels.edge import read_body
from bot.context import SERVICES, Services
from bot.http import ApiError, json_object, json_response, path_id
from bot.messages import DeliveryResult, OutboundMessage
from bot.validation import Invalid, parse_finite
from storage.channel_models import BridgeCommand, BridgeCommandStatus, BridgeEvent
from storage.models import DeliveryStatus, Message

log = logging.getLogger("bot.channels.bridge")

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
# A line whose command ended so may be sent again (by the engineer, never on its own).
_SENT_AGAIN_AFTER = frozenset({S.UNKNOWN, S.REJECTED})
# A command is offered once the core recorded its hand-over; a command whose
# record never came (a crash in between) is offered after this long anyway.
HANDOVER_GRACE = timedelta(seconds=10)


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
                    message_id, DeliveryResult("unknown", detail)
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
            "unknown",
            "the bridge cannot tell whether the customer got it; not resent, "
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
        value = parse_finite(raw)
    except Invalid as exc:
        raise ApiError(400, "bad_query", f"{name}: {exc}", field=name) from None
    if not low <= value <= high:
        raise ApiError(400, "bad_query", f"{name} must be between {low:g} and {high:g}", field=name)
    return value


async def get_commands(request: web.Request) -> web.Response:
    """`GET /bridge/v1/commands`: lines to type, leased to the polling bridge (long poll)."""
    endpoint = request.app[BRIDGE]
    body = await read_body(request)
    identity = await authenticated(
        request, body, endpoint.require_keys(), endpoint.config.max_skew_s
    )
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
    body = await read_body(request)
    identity = await authenticated(
        request, body, endpoint.require_keys(), endpoint.config.max_skew_s
    )
    command_id = path_id(request, "command_id", "command")
    data = json_object(body, "the result as a JSON object")
    status = choice(data, "status", RESULT_STATUSES)
    detail = data.get("detail")
    if detail is not None and (not isinstance(detail, str) or len(detail) > 1000):
        raise bad_field("detail", "must be a string of at most 1000 characters")
    platform_msg_id = data.get("platform_msg_id")
    if platform_msg_id is not None and (
        not isinstance(platform_msg_id, str) or len(platform_msg_id) > 128
    ):
        raise bad_field("platform_msg_id", "must be a string of at most 128 characters")
    queue = CommandQueue(request.app[SERVICES], endpoint.config)
    command, changed = await queue.report(
        identity, command_id, BridgeCommandStatus(status), detail, platform_msg_id
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
                earlier = await session.scalar(
                    select(BridgeCommand).where(BridgeCommand.message_id == message.message_id)
                )
                if earlier is not None and earlier.status not in _SENT_AGAIN_AFTER:
                    return DeliveryResult(
                        "sent", f"already queued for the bridge as command {earlier.id}"
                    )
                if earlier is not None:
                    # The engineer sends the line again after the bridge could not
                    # type it (or could not tell): a new command, since the bridge
                    # answers a command id it has seen from its journal.
                    earlier.message_id = None
                    earlier.result_detail = (
                        f"{earlier.result_detail or earlier.status.value}; "
                        f"line {message.message_id} sent again as a new command"
                    )
                    await session.flush()
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
