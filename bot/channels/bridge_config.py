"""The 千牛 / 京麦 bridge endpoints' settings and their state under `BRIDGE`.

Configuration (environment): ``AFTERSALES_BRIDGE_KEYS`` (``key_id=secret,…``;
keys limited to shops live in the ``bridge_keys`` table),
``AFTERSALES_BRIDGE_MAX_SKEW_S`` (300), ``AFTERSALES_BRIDGE_POLL_MAX_S`` (25),
``AFTERSALES_BRIDGE_LEASE_S`` (120), ``AFTERSALES_BRIDGE_MAX_ATTEMPTS`` (3).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from bot.channels.bridge_auth import BridgeKeys, parse_env_keys
from bot.channels.edge import ChannelEnv
from bot.http import ApiError

PREFIX = "/bridge/v1"
CHANNELS: tuple[str, ...] = ("qianniu", "jd")


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
        env = ChannelEnv(environ)
        return cls(
            env_keys=parse_env_keys(env.text("AFTERSALES_BRIDGE_KEYS")),
            max_skew_s=env.number("AFTERSALES_BRIDGE_MAX_SKEW_S", 300, minimum=10),
            poll_max_s=env.number("AFTERSALES_BRIDGE_POLL_MAX_S", 25, minimum=0),
            lease_s=env.number("AFTERSALES_BRIDGE_LEASE_S", 120, minimum=5),
            max_attempts=env.whole("AFTERSALES_BRIDGE_MAX_ATTEMPTS", 3, minimum=1),
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
    """The settings, this process's poll notifier, and the keys (set with the core)."""

    config: BridgeConfig
    notifier: CommandNotifier = field(default_factory=CommandNotifier)
    keys: BridgeKeys | None = None

    def require_keys(self) -> BridgeKeys:
        if self.keys is None:  # pragma: no cover - set by the cleanup context before serving
            raise ApiError(503, "not_ready", "the bridge endpoints are not ready yet")
        return self.keys


BRIDGE = web.AppKey("bridge", BridgeEndpoint)
