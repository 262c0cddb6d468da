"""The live app and the browser shared by the console's browser tests, on SQLite and PostgreSQL.

`live_app` runs the real app (`create_app`, console mounted, ``--demo`` accounts,
migrated at start) on a loopback port in a thread of this process, on a clock that
starts on Monday 2026-11-23 10:00 Shanghai (a working day, inside attended hours) and
runs in real time; `MovableClock.jump_to` / `advance` move it forward to fire timers.

The database is `live_db_url`: a fresh SQLite file, then the same test on a fresh
PostgreSQL schema of ``AFTERSALES_TEST_PG_URL`` (skipped with the reason when unset;
the schema is dropped afterwards, so tests never see each other's rows).  A browser
test costs seconds, so a file runs one representative flow on both databases and the
rest on SQLite only: mark those with `SQLITE_ONLY`, or list the database with the
test's other parameters (``indirect=["live_db_url"]``).

`browser` is Debian's Chromium driven by Playwright for Python (never a downloaded
browser); the tests skip with the reason when either is missing.  The fixtures are
imported into ``tests/console/conftest.py`` so every console test may use them.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import create_app
from bot.context import SERVICES, Services
from bot.settings import Settings
from compliance.policy import Policy, load_policy
from storage.testing import PG_SKIP_REASON, pg_test_url, temporary_pg_schema
from tests.support import MONDAY_10

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# For the flows a file runs on SQLite only (the file's representative flow runs on both).
SQLITE_ONLY = pytest.mark.parametrize("live_db_url", ["sqlite"], indirect=True)


def sizes_on_databases(sizes: dict[str, Any], postgres: str) -> list[Any]:
    """``(size, live_db_url)`` parameters: every size on SQLite, size `postgres` on PostgreSQL
    too (use with ``indirect=["live_db_url"]``)."""
    runs = [pytest.param(value, "sqlite", id=f"{name}-sqlite") for name, value in sizes.items()]
    runs.append(
        pytest.param(
            sizes[postgres], "postgresql", id=f"{postgres}-postgresql", marks=pytest.mark.postgres
        )
    )
    return runs


class MovableClock:
    """Runs in real time from `start`; `jump_to` and `advance` move it forward."""

    def __init__(self, start: datetime = MONDAY_10) -> None:
        self.start = start
        self.t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)

    def jump_to(self, moment: datetime) -> None:
        self.start, self.t0 = moment, time.monotonic()

    def advance(self, **delta: float) -> None:
        self.jump_to(self.now() + timedelta(**delta))


@dataclass
class LiveApp:
    base_url: str
    loop: asyncio.AbstractEventLoop
    services: Services
    clock: MovableClock

    def call(self, coroutine: Any) -> Any:
        """Run a coroutine on the app's loop (from the test's thread) and wait for it."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=30)


@contextmanager
def serve_app(
    db_url: str,
    clock: MovableClock,
    *,
    instance_id: str = "browser-test",
    policy: Policy | None = None,
    environ: dict[str, str] | None = None,
) -> Iterator[LiveApp]:
    """The real app on a loopback port, in a thread with its own event loop."""
    settings = Settings(
        policy=policy or load_policy(),
        db_url=db_url,
        port=8080,
        demo=True,
        scheduler_enabled=False,
        now=clock.now,
        instance_id=instance_id,
        environ=environ or {},
    )
    loop = asyncio.new_event_loop()
    ready: Future[tuple[web.AppRunner, str]] = Future()

    async def start() -> None:
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        ready.set_result((runner, f"http://{host}:{port}"))

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # the test thread must hear about it
            ready.set_exception(exc)
            return
        loop.run_forever()

    thread = threading.Thread(target=serve, name=instance_id, daemon=True)
    thread.start()
    runner, base_url = ready.result(timeout=120)
    app = runner.app
    assert isinstance(app, web.Application)
    try:
        yield LiveApp(base_url, loop, app[SERVICES], clock)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(params=DATABASES)
def live_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for the live app (it migrates at start): SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'browser.sqlite3'}"
        return
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        yield url


@pytest.fixture
def live_app(live_db_url: str) -> Iterator[LiveApp]:
    with serve_app(live_db_url, MovableClock(MONDAY_10)) as app:
        yield app


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright; skipped when either is missing."""
    playwright_sync = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright for Python is not installed (pip install playwright)",
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium chromium-driver)")
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
