"""Database fixtures for the storage tests, on SQLite and (when configured) PostgreSQL.

- `sqlite_url`, `pg_url`: a fresh, empty database (a temporary file; a new schema).
- `db_url`: the same, once per backend (the test runs twice).
- `engine`: `db_url` migrated to the newest revision, for tests that commit.
- `session`: a session on a database migrated once per test run and backend,
  rolled back after each test (commits included).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storage.db import make_engine
from storage.migrate import upgrade
from storage.testing import PG_SKIP_REASON, pg_test_url, rolled_back_session, temporary_pg_schema

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def _pg_base_url() -> str:
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    return base


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temporary_pg_schema(_pg_base_url()) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    with temporary_pg_schema(_pg_base_url()) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def shared_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('storage') / 'shared.sqlite3'}"
        upgrade(url)
        eng = make_engine(url)
        yield eng
        eng.dispose()
        return
    with temporary_pg_schema(_pg_base_url()) as url:
        upgrade(url)
        eng = make_engine(url)
        yield eng
        eng.dispose()


@pytest.fixture
def session(shared_engine: Engine) -> Iterator[Session]:
    with rolled_back_session(shared_engine) as db:
        yield db
