"""Fixtures for the bot's tests: a migrated database (SQLite, and PostgreSQL when
`AFTERSALES_TEST_PG_URL` is set), a hand-moved clock, and the real app behind
aiohttp's test client with helpers for the customer's and the engineer's side.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.channels import web as web_channel
from bot.context import SERVICES, Services
from bot.settings import Settings
from compliance.calendar import SHANGHAI
from compliance.policy import Policy, load_policy
from storage.migrate import upgrade
from storage.testing import PG_SKIP_REASON, pg_test_url, temporary_pg_schema

# Monday 2026-11-23 10:00 in Shanghai: a working day, inside attended hours.
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
# Sunday 2026-11-22: a rest day for 朴赛 (Saturday is a working day).
SUNDAY_11 = datetime(2026, 11, 22, 11, 0, tzinfo=SHANGHAI)


class FakeClock:
    """The app's clock in tests: it moves only when told."""

    def __init__(self, start: datetime = MONDAY_10) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "bot.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def _sqlite_url(template: Path, directory: Path) -> str:
    target = directory / "bot.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return _sqlite_url(sqlite_template, tmp_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL schema of its own; skipped without a server URL."""
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """The test's database: a SQLite copy, then the same test on PostgreSQL."""
    if request.param == "sqlite":
        yield _sqlite_url(sqlite_template, tmp_path)
        return
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        upgrade(url)
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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


def findings_of(db_url: str, policy: Policy) -> list[Any]:
    """Every compliance finding on the database's sessions, read the way
    `aftersales check --db` reads them (`compliance.dbsource`)."""
    from compliance.checker import check_sessions
    from compliance.dbsource import load_sessions
    from storage.db import make_engine

    engine = make_engine(db_url)
    try:
        stored = load_sessions(engine)
    finally:
        engine.dispose()
    assert stored.errors == [], [str(e) for e in stored.errors]
    return list(check_sessions(stored.sessions, policy))
