"""The 千牛 (Taobao / Tmall) and 京麦 (JD) channels, through a bridge on the shop's PC.

Neither platform offers an API for its customer-service chat, so a small
program on the PC where 千牛 or 京麦 runs (the *bridge*; a reference one is
`bot.channels.bridge_client`) reads the chat and posts what happens to the
bot, and pulls the lines the bot has for it.  The contract is in
``docs/bridge.md``; every request is signed (`bot.channels.bridge_auth`).

- ``POST /bridge/v1/events`` — one chat event (`bridge_events`).
- ``GET /bridge/v1/commands`` and ``POST /bridge/v1/commands/{id}/result`` —
  the lines for the bridge to type and what became of them
  (`bridge_commands`, with the `BridgeSender` that queues them).

Configuration (environment): see `bridge_config`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.channels.bridge_auth import BridgeKeys
from bot.channels.bridge_commands import BridgeSender, get_commands, post_result
from bot.channels.bridge_config import BRIDGE, CHANNELS, PREFIX, BridgeConfig, BridgeEndpoint
from bot.channels.bridge_events import post_event
from bot.context import SERVICES, SETTINGS

__all__ = ["BRIDGE", "PREFIX", "setup"]

log = logging.getLogger("bot.channels.bridge")


async def _channel_ctx(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[BRIDGE]
    services = app[SERVICES]
    endpoint.keys = BridgeKeys(endpoint.config.env_keys, services.sessionmaker, services.secrets)
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
