"""Fixtures for the bot's tests: the real app behind aiohttp's test client with
helpers for the customer's and the engineer's side (the database, policy and
clock fixtures are the shared ones of ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.channels import web as web_channel
from bot.context import SERVICES, Services
from bot.settings import Settings
from compliance.calendar import SHANGHAI
from compliance.policy import Policy
from tests.support import FakeClock

# Sunday 2026-11-22: a rest day for 朴赛 (Saturday is a working day).
SUNDAY_11 = datetime(2026, 11, 22, 11, 0, tzinfo=SHANGHAI)


def make_settings(policy: Policy, db_url: str, clock: FakeClock, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "policy": policy,
        "db_url": db_url,
        "migrate_on_start": False,
        "scheduler_enabled": False,
        "now": clock.now,
        "instance_id": "test-a",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Bot:
    """The app under test, with the customer's (web chat) and the engineer's (API) side."""

    client: TestClient[Any, Any]
    clock: FakeClock

    @property
    def services(self) -> Services:
        app = self.client.app
        assert app is not None
        return app[SERVICES]

    async def visitor(self) -> str:
        response = await self.client.post("/chat/api/visitors", json={})
        assert response.status == 201
        return str((await response.json())["visitor"])

    async def say(
        self, visitor: str, text: str, client_id: str | None = None, status: int = 201
    ) -> dict[str, Any]:
        """The customer writes in the web chat; returns the JSON answer."""
        self._seq = getattr(self, "_seq", 0) + 1
        body = {"visitor": visitor, "client_id": client_id or f"msg-{self._seq:06d}", "text": text}
        response = await self.client.post("/chat/api/messages", json=body)
        data: dict[str, Any] = await response.json()
        assert response.status == status, data
        return data

    async def api(
        self,
        method: str,
        path: str,
        staff_no: str | None = "1818",
        json: dict[str, Any] | None = None,
        status: int = 200,
    ) -> dict[str, Any]:
        """An engineer API call as `staff_no`; asserts the status, returns the JSON."""
        headers = {"X-Staff-No": staff_no} if staff_no else {}
        response = await self.client.request(method, path, json=json, headers=headers)
        data: dict[str, Any] = await response.json()
        assert response.status == status, data
        return data

    async def act(
        self, number: str, verb: str, /, staff_no: str = "1818", status: int = 200, **body: Any
    ) -> dict[str, Any]:
        """POST /api/tickets/{number}/{verb} with `body` as JSON."""
        return await self.api(
            "POST", f"/api/tickets/{number}/{verb}", staff_no, json=body, status=status
        )

    async def ticket(self, number: str, staff_no: str = "9001") -> dict[str, Any]:
        """The ticket as the API shows it; read as the manager (who may read every ticket)."""
        return await self.api("GET", f"/api/tickets/{number}", staff_no)


async def start_bot(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock, **overrides: Any
) -> Bot:
    settings = make_settings(policy, db_url, clock, **overrides)
    app = create_app(settings, channel_modules=[web_channel], page_modules=[])
    return Bot(await aiohttp_client(app), clock)


@pytest.fixture
async def bot(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock
) -> AsyncIterator[Bot]:
    yield await start_bot(aiohttp_client, policy, db_url, clock)


@pytest.fixture
async def sqlite_bot(
    aiohttp_client: Any, policy: Policy, sqlite_url: str, clock: FakeClock
) -> AsyncIterator[Bot]:
    """The app on SQLite only, for tests of behaviour that does not depend on the database."""
    yield await start_bot(aiohttp_client, policy, sqlite_url, clock)
