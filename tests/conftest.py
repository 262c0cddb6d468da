"""Fixtures every test package may use: the policy, a clock, migrated databases
(a SQLite copy, and PostgreSQL in a temporary schema when `AFTERSALES_TEST_PG_URL`
is set; skipped with the reason otherwise)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compliance.policy import Policy, load_policy
from storage.migrate import upgrade
from storage.testing import PG_SKIP_REASON, pg_test_url, temporary_pg_schema
from tests.support import FakeClock, copy_database


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "bot.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return copy_database(sqlite_template, tmp_path)


def _migrated_pg_schema() -> Iterator[str]:
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        upgrade(url)
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL schema of its own; skipped without a server URL."""
    yield from _migrated_pg_schema()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """The test's database: a SQLite copy, then the same test on PostgreSQL."""
    if request.param == "sqlite":
        yield copy_database(sqlite_template, tmp_path)
    else:
        yield from _migrated_pg_schema()
