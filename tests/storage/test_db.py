"""Engines and session factories: URL handling, SQLite set-up, the async engine on both."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from storage.db import (
    DEFAULT_DB_URL,
    DatabaseURLError,
    immediate_transactions,
    is_postgresql,
    make_async_engine,
    make_async_sessionmaker,
    make_engine,
    make_sessionmaker,
    normalise_url,
)
from storage.migrate import upgrade
from storage.models import Customer
from tests.storage import factories


@pytest.mark.parametrize(
    ("given", "asynchronous", "expected"),
    [
        ("postgresql://u:p@h:5432/db", False, "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", False, "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", False, "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", True, "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", True, "postgresql+psycopg://u@h/db"),
        ("sqlite:///aftersales.sqlite3", False, "sqlite+pysqlite:///aftersales.sqlite3"),
        ("sqlite:///aftersales.sqlite3", True, "sqlite+aiosqlite:///aftersales.sqlite3"),
        ("sqlite+aiosqlite:////tmp/x.db", False, "sqlite+pysqlite:////tmp/x.db"),
    ],
)
def test_urls_are_mapped_onto_the_shipped_drivers(
    given: str, asynchronous: bool, expected: str
) -> None:
    url = normalise_url(given, asynchronous=asynchronous)
    assert url.render_as_string(hide_password=False) == expected


def test_a_url_object_keeps_its_password() -> None:
    url = normalise_url(make_url("postgresql://u:s3cret@h/db"))
    assert url.password == "s3cret"


def test_an_unsupported_database_is_named() -> None:
    with pytest.raises(DatabaseURLError, match=r"unsupported database 'mysql'.*sqlite:///FILE"):
        normalise_url("mysql://root@localhost/test")


def test_a_malformed_url_is_named() -> None:
    with pytest.raises(DatabaseURLError, match=r"not a database URL: '::nonsense::'"):
        make_engine("::nonsense::")


def test_a_missing_sqlite_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "db.sqlite3"
    with pytest.raises(DatabaseURLError, match="no-such-dir' does not exist"):
        make_engine(f"sqlite:///{missing}")
    with pytest.raises(DatabaseURLError, match="no-such-dir' does not exist"):
        make_async_engine(f"sqlite:///{missing}")


def test_the_default_is_a_sqlite_file_in_the_working_directory() -> None:
    url = make_url(DEFAULT_DB_URL)
    assert url.get_backend_name() == "sqlite"
    assert url.database == "aftersales.sqlite3"


def _pragmas(connection: object) -> tuple[object, ...]:
    execute = connection.exec_driver_sql  # type: ignore[attr-defined]
    return tuple(
        execute(f"PRAGMA {name}").scalar_one()
        for name in ("foreign_keys", "journal_mode", "busy_timeout")
    )


def test_sqlite_pragmas_on_the_sync_engine(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert _pragmas(conn) == (1, "wal", 15000)
    finally:
        engine.dispose()


async def test_sqlite_pragmas_on_the_async_engine(sqlite_url: str) -> None:
    engine = make_async_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_pragmas) == (1, "wal", 15000)
    finally:
        await engine.dispose()


def test_sqlite_ddl_is_transactional(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE scratch (id INTEGER)"))
            conn.rollback()
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_sqlite_immediate_transactions_queue_instead_of_failing(sqlite_url: str) -> None:
    """Read, then write after another writer: IMMEDIATE makes the other writer wait."""
    upgrade(sqlite_url)
    engine = immediate_transactions(make_engine(sqlite_url))
    factory = make_sessionmaker(engine)
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            with factory() as other:
                factories.customer(other, external_id="other")
                other.commit()
        except BaseException as exc:
            errors.append(exc)

    try:
        with factory() as session:
            assert session.scalars(select(Customer)).all() == []
            writer = threading.Thread(target=other_writer)
            writer.start()
            time.sleep(0.3)  # the other writer tries meanwhile (and must wait)
            factories.customer(session, external_id="mine")
            session.commit()
        writer.join(timeout=30)
        assert errors == []
        with factory() as check:
            names = sorted(c.external_id for c in check.scalars(select(Customer)))
        assert names == ["mine", "other"]
    finally:
        engine.dispose()


def test_deferred_sqlite_transactions_fail_on_a_stale_read(sqlite_url: str) -> None:
    """The default's documented limit (why `immediate_transactions` exists)."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    factory = make_sessionmaker(engine)
    try:
        with factory() as session:
            assert session.scalars(select(Customer)).all() == []
            with factory() as other:
                factories.customer(other, external_id="other")
                other.commit()
            with pytest.raises(OperationalError, match="database is locked"):
                factories.customer(session, external_id="mine")
    finally:
        engine.dispose()


def test_objects_stay_readable_after_commit(engine: Engine) -> None:
    with make_sessionmaker(engine)() as session:
        customer = factories.customer(session, display_name="张总")
        session.commit()
        assert inspect(customer).expired is False
        assert customer.display_name == "张总"


async def test_the_async_engine_round_trips_on_both_databases(db_url: str) -> None:
    upgrade(db_url)
    engine = make_async_engine(db_url)
    sessionmaker = make_async_sessionmaker(engine)
    created = datetime(2026, 11, 23, 1, 31, tzinfo=UTC)
    try:
        async with sessionmaker() as session:
            session.add(Customer(channel="wechat", external_id="oCust1", created_at=created))
            await session.commit()
        async with sessionmaker() as session:
            stored = (await session.scalars(select(Customer))).one()
        assert stored.created_at == created
        assert stored.created_at.tzinfo is not None
        assert is_postgresql(engine) == db_url.startswith("postgresql")
    finally:
        await engine.dispose()
