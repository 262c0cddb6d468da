"""The one harness of the channel tests: the real app with some channel modules, its
clock and database, and the recording fakes of the Tencent side on loopback.

Each channel's test module builds its own handle on `ChannelApp` (the 公众号's
`WeChatBot`, kf's `KfBot`, the bridge's `BridgeBot`) with the requests that
channel's far side makes; the fixtures that start them are in ``conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import ChannelModule
from storage.db import make_async_sessionmaker
from storage.models import Message, MessageRole, Ticket
from tests.support import AppCalls, FakeClock

REPO = Path(__file__).resolve().parents[2]
# The shared real data (official crypto vectors, XML samples); tests skip without it.
REALDATA = Path(os.environ.get("AFTERSALES_REALDATA") or REPO / "../shared/realdata").resolve()


@dataclass
class ChannelApp(AppCalls):
    """A running app: aiohttp's test client, the app's clock, an engine on its database."""

    client: TestClient[Any, Any]
    clock: FakeClock
    engine: AsyncEngine

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

    async def ticket_and_engineer(self) -> tuple[str, str]:
        """(number, assigned engineer's 工号) of the only ticket, read through the API."""
        ticket = await self.only_ticket()
        detail = await self.api("GET", f"/api/tickets/{ticket.number}", "9001")
        return ticket.number, str(detail["engineer"]["staff_no"])


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
