"""What every channel's edge shares: settings from the environment, the request body,
JSON bodies, the webhook that answers 503 until configured, and Tencent's ``success``.

`ChannelEnv`
    A channel's view of `Settings.environ`: text, numbers (through
    `bot.settings.env_number`, the one parser of numeric variables), URLs and
    EncodingAESKeys, each refusal a `SettingsError` naming the variable.
`read_body`
    The request body under the app's size limit (`bot.http.read_body`, which
    the engineer API's `read_json` uses too).  A JSON body is decoded, after
    its signature is checked over the raw bytes, by `bot.http.json_object`:
    one decoder, one set of error answers, for the API and every channel.
`ChannelEndpoint`, `mount_webhook`
    A webhook's state under its `web.AppKey`: the validated configuration,
    or the variables still unset; `require_config` answers 503 naming them
    (WeChat's console and the log then say why, where a 404 would look like a
    wrong URL).  `mount_webhook` mounts the routes either way and starts the
    channel's cleanup context only when it is configured.
`success`
    The answer Tencent's callbacks document for "received, nothing to say".
`periodically`
    A channel's background sweep (kf's pending notices and unknown lines, the
    公众号's intake journal): one round at once, then every `every_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web

from bot.channels.wechat_crypto import AesKeyError, validate_aes_key
from bot.context import SETTINGS
from bot.http import ApiError, Handler
from bot.http import read_body as read_limited_body
from bot.settings import SettingsError, env_number

__all__ = [
    "ChannelEndpoint",
    "ChannelEnv",
    "mount_webhook",
    "periodically",
    "read_body",
    "success",
]

log = logging.getLogger("bot.channels")

C = TypeVar("C")


class ChannelEnv:
    """The variables of one channel, read from `Settings.environ` and validated."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str:
        """The variable's value without surrounding blanks ('' when unset)."""
        return self._environ.get(name, "").strip()

    def missing(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Those of `names` that are unset or blank."""
        return tuple(name for name in names if not self.text(name))

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        return env_number(self._environ, name, default, minimum=minimum)

    def whole(self, name: str, default: int, *, minimum: int | None = None) -> int:
        return int(env_number(self._environ, name, default, minimum=minimum, whole=True))

    def url(self, name: str, default: str) -> str:
        """An http(s) base URL (tests point the API clients at a fake)."""
        value = self.text(name) or default
        if not value.startswith(("http://", "https://")):
            raise SettingsError(f"{name}: expected an http(s) URL, got {value!r}")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (self.text(name) or default).lower()
        if value not in allowed:
            raise SettingsError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
        return value

    def aes_keys(self, current: str, previous: str) -> tuple[str, ...]:
        """The current EncodingAESKey and, during a rotation, the previous one ('': none)."""
        keys: list[str] = []
        for name in (current, previous):
            value = self.text(name)
            if not value:
                continue
            if name == previous and not keys:
                raise SettingsError(f"{name} is set but {current} is not: set the current key too")
            try:
                keys.append(validate_aes_key(value, name=name))
            except AesKeyError as exc:
                raise SettingsError(str(exc)) from None
        return tuple(keys)


async def read_body(request: web.Request) -> bytes:
    """The raw body, refused with 413 over `Settings.max_body_bytes`."""
    return await read_limited_body(request, request.app[SETTINGS].max_body_bytes)


@dataclass(slots=True)
class ChannelEndpoint(Generic[C]):
    """A webhook's configuration, or (None) the variables still to set."""

    label: ClassVar[str] = "channel"

    config: C | None
    missing: tuple[str, ...]

    def require_config(self) -> C:
        """The configuration, or a 503 naming the variables still to set."""
        if self.config is None:
            raise ApiError(
                503,
                "channel_not_configured",
                f"the {self.label} channel is not configured: set {', '.join(self.missing)}",
            )
        return self.config


E = TypeVar("E", bound=ChannelEndpoint[Any])


def mount_webhook(
    app: web.Application,
    key: web.AppKey[E],
    endpoint: E,
    path: str,
    *,
    get: Handler,
    post: Handler,
    start: Callable[[web.Application], AsyncIterator[None]],
) -> None:
    """Mount `path` (GET: URL verification, POST: callbacks) with `endpoint` under `key`;
    `start` (the sender, syncer …) runs with the core only when the channel is configured."""
    app[key] = endpoint
    app.router.add_get(path, get)
    app.router.add_post(path, post)
    if endpoint.config is None:
        log.info(
            "%s channel not configured (%s answers 503): set %s",
            endpoint.label,
            path,
            ", ".join(endpoint.missing),
        )
        return
    app.cleanup_ctx.append(start)


def success() -> web.Response:
    """WeChat's and WeCom's documented "received, no reply" answer: neither retries it,
    and WeChat does not tell the customer the account is unavailable."""
    return web.Response(text="success", content_type="text/plain")


@contextlib.asynccontextmanager
async def periodically(
    every_s: float, round_: Callable[[], Awaitable[object]], what: str
) -> AsyncIterator[None]:
    """Run `round_` at once and then every `every_s` while the context is open (0: never);
    a failing round is logged and the next one runs as planned."""

    async def loop() -> None:
        while True:
            try:
                await round_()
            except Exception:  # one bad round must not end the sweep
                log.exception("%s failed", what)
            await asyncio.sleep(every_s)

    task = asyncio.get_running_loop().create_task(loop()) if every_s > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
