"""Database fixtures: a migrated SQLite file, and (when configured) a PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage.db import make_engine
from storage.migrate import upgrade
from storage.testing import PG_SKIP_REASON, pg_test_url, temporary_pg_schema


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
