"""Fixtures for the channel tests: a migrated database (SQLite, and PostgreSQL in a
temporary schema when `AFTERSALES_TEST_PG_URL` is set), a hand-moved clock, and the
real app with the WeCom kf and bridge channels mounted."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from compliance.calendar import SHANGHAI
from compliance.policy import Policy, load_policy
from storage.migrate import upgrade
from storage.testing import PG_SKIP_REASON, pg_test_url, temporary_pg_schema

# Monday 2026-11-23 10:00 in Shanghai: a working day, inside attended hours.
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


class FakeClock:
    """The app's clock in tests: it moves only when told."""

    def __init__(self, start: datetime = MONDAY_10) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    @property
    def unix(self) -> int:
        return int(self.current.timestamp())

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
    path = tmp_path_factory.mktemp("channels") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def _copy(template: Path, directory: Path) -> str:
    target = directory / "bot.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return _copy(sqlite_template, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """The test's database: a SQLite copy, then the same test on PostgreSQL."""
    if request.param == "sqlite":
        yield _copy(sqlite_template, tmp_path)
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


def findings_of(db_url: str, policy: Policy) -> list[Any]:
    """Every compliance finding on the stored sessions, read as `aftersales check --db` does."""
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
