"""Channels: one module each, turning a wire format into `InboundMessage`s.

A channel module exposes ``setup(app: web.Application) -> None``; `bot.app`
imports each one by name and calls them in the order of its
`CHANNEL_MODULES` (explicit imports: a channel that fails to import stops
the app instead of leaving a hole nobody notices).  In `setup` the module
adds its routes and, when it sends lines after the first reply, appends a
cleanup context that registers its `ChannelSender`:

    async def _sender_ctx(app):
        services = app[SERVICES]          # opened by the core before any channel
        client = MyClient(...)
        services.senders.register(MySender(client))
        yield
        await client.close()

    def setup(app):
        app.router.add_post("/mychannel", handle)
        app.cleanup_ctx.append(_sender_ctx)

The core stays channel-blind: it stores every line and hands it to
`SenderRegistry.deliver`, which looks up the sender by the ticket's channel.
What the channels share at their edge (settings, bodies, the 503 endpoint)
is in `bot.channels.edge`; the recording fakes of the Tencent side are in
`bot.channels.testing`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp.web import Application

from bot.messages import ChannelSender, DeliveryResult, OutboundMessage

log = logging.getLogger("bot.channels")


class ChannelModule(Protocol):
    """What `create_app` needs from a channel module."""

    def setup(self, app: Application) -> None: ...


class SenderRegistry:
    """The `ChannelSender` of each channel, looked up by the message's channel name."""

    def __init__(self) -> None:
        self._senders: dict[str, ChannelSender] = {}

    def register(self, sender: ChannelSender) -> None:
        if sender.channel in self._senders:
            raise ValueError(f"a sender for channel {sender.channel!r} is already registered")
        self._senders[sender.channel] = sender

    def unregister(self, channel: str) -> None:
        self._senders.pop(channel, None)

    def get(self, channel: str) -> ChannelSender | None:
        return self._senders.get(channel)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self._senders)

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        """Send through the channel's sender; no sender is a failure, never an exception."""
        sender = self._senders.get(message.channel)
        if sender is None:
            return DeliveryResult("failed", f"no sender registered for channel {message.channel!r}")
        try:
            return await sender.send(message)
        except Exception as exc:  # a channel bug must not lose the stored line
            log.exception("sender for %s raised", message.channel)
            # It may have raised after the channel took the line: unknown, so
            # nothing resends it blindly.
            return DeliveryResult("unknown", f"{type(exc).__name__}: {exc}")
