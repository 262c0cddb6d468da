"""Fixtures of the channel tests (see `tests.channels.harness`): `start_app` runs the real
app with the given channel modules and environment; `fake_server` serves a recording fake
of the Tencent side on loopback and returns its base URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp.plugin import AiohttpClient, AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.accounts import seed_demo_accounts
from bot.app import create_app
from bot.console import app as bot_console
from bot.settings import Settings
from compliance.policy import Policy
from storage.db import make_async_engine, make_async_sessionmaker
from tests.channels.harness import ChannelApp, FakeServer, ModuleList, StartApp, settings_values
from tests.channels.wechat_harness import fake_api, make_bot  # noqa: F401  (fixtures)
from tests.support import FakeClock


@pytest.fixture
async def fake_server(aiohttp_server: AiohttpServer) -> FakeServer:
    async def serve(app: web.Application) -> str:
        server = await aiohttp_server(app)
        return str(server.make_url("")).rstrip("/")

    return serve


@pytest.fixture
async def start_app(aiohttp_client: AiohttpClient, policy: Policy) -> AsyncIterator[StartApp]:
    engines: list[AsyncEngine] = []
    apps: list[ChannelApp] = []

    async def start(
        db_url: str,
        *,
        env: Mapping[str, str],
        modules: ModuleList = None,
        clock: FakeClock | None = None,
        instance: str = "test-a",
        console: bool = False,
        **overrides: Any,
    ) -> ChannelApp:
        """The app on `db_url`; `modules` None mounts every channel.  Without the
        console the engineer API takes the acting 工号 from X-Staff-No; with it, the
        demo accounts are seeded and `ChannelApp.sign_in` opens a browser."""
        clock = clock or FakeClock()
        values = settings_values(db_url, clock, env, instance)
        values.update(overrides)
        settings = Settings(policy=policy, **values)
        pages = (bot_console,) if console else ()
        client = await aiohttp_client(
            create_app(settings, channel_modules=modules, page_modules=pages)
        )
        engine = make_async_engine(db_url)
        engines.append(engine)
        if console:
            await seed_demo_accounts(make_async_sessionmaker(engine))
        apps.append(ChannelApp(client, clock, engine))
        return apps[-1]

    yield start
    for app in apps:
        for browser in app.browsers:
            await browser.close()
    for engine in engines:
        await engine.dispose()
