"""Health checks and the graceful shutdown a load balancer relies on (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.serve
from bot.app import create_app
from bot.context import SERVICES
from bot.health import DRAINING
from bot.settings import Settings, SettingsError
from compliance.policy import Policy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_liveness_and_readiness_answer_and_draining_turns_readiness_off(
    aiohttp_client: Callable[..., Any], policy: Policy, sqlite_url: str
) -> None:
    app = create_app(Settings(policy=policy, db_url=sqlite_url, scheduler_enabled=False))
    client = await aiohttp_client(app)
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert (ready.status, await ready.text()) == (200, "ready\n")
    app[DRAINING].set()
    draining = await client.get("/readyz")
    assert (draining.status, await draining.text()) == (503, "draining\n")
    assert (await client.get("/healthz")).status == 200  # alive while it drains


async def test_readiness_is_503_when_the_database_does_not_answer(
    aiohttp_client: Callable[..., Any],
    policy: Policy,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(Settings(policy=policy, db_url=sqlite_url, scheduler_enabled=False))
    client = await aiohttp_client(app)
    assert isinstance(app[SERVICES].engine, AsyncEngine)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("database is down")

    monkeypatch.setattr(AsyncEngine, "connect", unreachable)
    response = await client.get("/readyz")
    assert response.status == 503
    assert "database unavailable: ConnectionRefusedError" in await response.text()


async def test_sigterm_drains_then_lets_the_request_in_flight_finish(
    policy: Policy, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await release.wait()
        return web.Response(text="finished")

    def app_with_a_slow_route(settings: Settings) -> web.Application:
        app = create_app(settings)
        app.router.add_get("/slow", slow)
        return app

    monkeypatch.setattr(bot.serve, "create_app", app_with_a_slow_route)
    port = free_port()
    settings = Settings(
        policy=policy,
        db_url=sqlite_url,
        scheduler_enabled=False,
        port=port,
        drain_s=0.5,
        shutdown_timeout_s=10,
    )
    server = asyncio.create_task(bot.serve.serve(settings))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        in_flight = asyncio.create_task(http.get(f"{base}/slow"))
        await asyncio.wait_for(started.wait(), 5)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.1)
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 503  # the balancer is told first
        release.set()
        answer = await asyncio.wait_for(in_flight, 10)
        assert (answer.status, await answer.text()) == (200, "finished")
        await asyncio.wait_for(server, 15)
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{base}/healthz")


def test_drain_settings_are_read_and_checked() -> None:
    settings = Settings.load(
        environ={"AFTERSALES_DRAIN_S": "5", "AFTERSALES_SHUTDOWN_TIMEOUT_S": "20"}
    )
    assert (settings.drain_s, settings.shutdown_timeout_s) == (5.0, 20.0)
    with pytest.raises(SettingsError, match="AFTERSALES_DRAIN_S: must be at least 0"):
        Settings.load(environ={"AFTERSALES_DRAIN_S": "-1"})
    with pytest.raises(SettingsError, match="must not be negative"):
        replace(settings, shutdown_timeout_s=-1)
