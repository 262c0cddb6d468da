"""The one harness of the channel tests: the real app with some channel modules, its
clock and database, and the recording fakes of the Tencent side on loopback.

Each channel's test module builds its own handle on `ChannelApp` (the 公众号's
`WeChatBot`, kf's `KfBot`, the bridge's `BridgeBot`) with the requests that
channel's far side makes; the fixtures that start them are in ``conftest.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import ChannelModule
from storage.db import make_async_sessionmaker
from storage.models import Engineer, Message, MessageRole, Ticket
from tests.support import AppCalls, FakeClock

REPO = Path(__file__).resolve().parents[2]
FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
# The shared real data (official crypto vectors, XML samples); tests skip without it.
REALDATA = Path(os.environ.get("AFTERSALES_REALDATA") or REPO / "../shared/realdata").resolve()


@dataclass
class ChannelApp(AppCalls):
    """A running app: aiohttp's test client, the app's clock, an engine on its database."""

    client: TestClient[Any, Any]
    clock: FakeClock
    engine: AsyncEngine
    browsers: list[TestClient[Any, Any]] = field(default_factory=list, kw_only=True)

    @property
    def app(self) -> web.Application:
        app = self.client.app
        assert app is not None
        return app

    async def messages(self, role: MessageRole | None = None) -> list[Message]:
        """Every stored line (of `role`), in id order."""
        async with make_async_sessionmaker(self.engine)() as session:
            query = select(Message).order_by(Message.id)
            if role is not None:
                query = query.where(Message.role == role)
            return list((await session.execute(query)).scalars())

    async def line(self, text: str) -> Message:
        """The newest stored line with exactly `text`."""
        async with make_async_sessionmaker(self.engine)() as session:
            query = select(Message).where(Message.text == text).order_by(Message.id.desc())
            found = (await session.execute(query)).scalars().first()
        assert found is not None, f"no line {text[:40]!r}"
        return found

    async def only_ticket(self) -> Ticket:
        async with make_async_sessionmaker(self.engine)() as session:
            return (await session.execute(select(Ticket))).scalar_one()

    async def sign_in(self, username: str, password: str) -> ConsoleBrowser:
        """A browser (own cookies) signed in to the console as `username`."""
        browser: TestClient[Any, Any] = TestClient(self.client.server)
        await browser.start_server()
        self.browsers.append(browser)
        form = await (await browser.get("/console/login")).text()
        token = FORM_TOKEN.search(form)
        assert token is not None
        response = await browser.post(
            "/console/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        # The signed-in session has its own CSRF token, on every page (as the JavaScript reads it).
        csrf = CSRF_META.search(await (await browser.get("/console/")).text())
        assert csrf is not None
        return ConsoleBrowser(browser, csrf.group(1))

    async def assigned(self) -> tuple[str, str]:
        """(number, assigned engineer's 工号) of the only ticket, read from the database."""
        async with make_async_sessionmaker(self.engine)() as session:
            number, staff_no = (
                await session.execute(
                    select(Ticket.number, Engineer.staff_no).join(
                        Engineer, Ticket.assigned_engineer_id == Engineer.id
                    )
                )
            ).one()
        return str(number), str(staff_no)

    async def ticket_and_engineer(self) -> tuple[str, str]:
        """(number, assigned engineer's 工号) of the only ticket, read through the API."""
        ticket = await self.only_ticket()
        detail = await self.api("GET", f"/api/tickets/{ticket.number}", "9001")
        return ticket.number, str(detail["engineer"]["staff_no"])


@dataclass
class ConsoleBrowser:
    """A signed-in console session: its client and the CSRF token every POST carries."""

    client: TestClient[Any, Any]
    csrf: str

    async def page(self, path: str) -> tuple[int, str]:
        response = await self.client.get(path)
        return response.status, await response.text()

    async def form(self, path: str) -> tuple[int, str]:
        """POST a console form (the CSRF token only); the status and text after redirects."""
        response = await self.client.post(path, data={"csrf_token": self.csrf})
        return response.status, await response.text()

    async def api(self, method: str, path: str, **body: Any) -> dict[str, Any]:
        """The engineer API as the signed-in account (session cookie + CSRF header)."""
        response = await self.client.request(
            method, path, json=body or None, headers={"X-CSRF-Token": self.csrf}
        )
        data = await response.json()
        assert response.status < 300, data
        return dict(data)


StartApp = Callable[..., Awaitable[ChannelApp]]
FakeServer = Callable[[web.Application], Awaitable[str]]


def settings_values(
    db_url: str, clock: FakeClock, environ: Mapping[str, str], instance: str
) -> dict[str, Any]:
    """The `Settings` every channel test runs with (no migrations, no scheduler)."""
    return {
        "db_url": db_url,
        "migrate_on_start": False,
        "scheduler_enabled": False,
        "now": clock,
        "instance_id": instance,
        "environ": dict(environ),
    }


ModuleList = Iterable[ChannelModule] | None
