"""One place that makes engines and session factories, for SQLite and PostgreSQL.

The embedded default is a SQLite file in the working directory; the same code
runs on PostgreSQL (`postgresql+psycopg://…`), where several processes may
share one database.

SQLite is set up so that several threads and processes can share the file:
WAL journal (readers never block the writer nor each other), a busy timeout
(a writer waits up to 15 s for another writer instead of failing), foreign keys
enforced, and transactions begun by SQLAlchemy rather than by Python's sqlite3
module, which otherwise starts them late and lazily (DDL then runs outside any
transaction, so a failed migration would be half applied, and SAVEPOINTs break).

One SQLite limit remains: a transaction that reads and later writes fails at
once ("database is locked") when another connection wrote in between; the
busy timeout cannot help, as its snapshot is stale.  A write path that must
queue instead takes the lock when it begins: use `immediate_transactions(engine)`
for its sessions (BEGIN IMMEDIATE).  It is not the default because every such
transaction, even a read, then waits for the writer, and a session opened
while another of the same thread holds the lock would wait for itself.
On PostgreSQL the option changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DB_URL = "sqlite:///aftersales.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 15_000
SUPPORTED_URLS = "sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB"
SQLITE_BEGIN_OPTION = "aftersales_sqlite_begin"

EngineT = TypeVar("EngineT", Engine, AsyncEngine)


class DatabaseURLError(ValueError):
    """A database URL the product cannot use; the message says what to write instead."""


def normalise_url(url: str | URL, *, asynchronous: bool = False) -> URL:
    """Map a user-given URL onto the drivers the product ships.

    `postgresql://`, `postgres://` and other PostgreSQL drivers become
    `postgresql+psycopg://` (psycopg 3 serves sync and async alike);
    `sqlite://` becomes `sqlite+aiosqlite://` for the async engine.  Any other
    database is a `DatabaseURLError`.
    """
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise DatabaseURLError(f"not a database URL: {text!r}; use {SUPPORTED_URLS}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        driver = "aiosqlite" if asynchronous else "pysqlite"
        return parsed.set(drivername=f"sqlite+{driver}")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseURLError(f"unsupported database {backend!r} in {text!r}: use {SUPPORTED_URLS}")


def _check_sqlite_file(url: URL) -> None:
    """Fail early, naming the path, when a SQLite file cannot be created where asked."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).expanduser().absolute().parent
    if not folder.is_dir():
        raise DatabaseURLError(
            f"SQLite database {database!r}: folder {str(folder)!r} does not exist"
        )


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions itself: `_on_sqlite_begin` does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Durable at every checkpoint; with WAL, NORMAL cannot corrupt the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE"):
        raise ValueError(f"{SQLITE_BEGIN_OPTION} must be DEFERRED or IMMEDIATE, not {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _prepare_sqlite(engine: Engine) -> None:
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)


def make_engine(url: str | URL = DEFAULT_DB_URL, **kwargs: Any) -> Engine:
    """A synchronous engine (command line, migrations, checker); `kwargs` go to SQLAlchemy."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed)
        engine = create_engine(parsed, **kwargs)
        _prepare_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def make_async_engine(url: str | URL = DEFAULT_DB_URL, **kwargs: Any) -> AsyncEngine:
    """An asyncio engine (the aiohttp app) on the same database, set up the same way."""
    parsed = normalise_url(url, asynchronous=True)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed)
        engine = create_async_engine(parsed, **kwargs)
        _prepare_sqlite(engine.sync_engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(parsed, **kwargs)


def immediate_transactions(engine: EngineT) -> EngineT:
    """The same engine (same pool), its SQLite transactions taking the write lock at BEGIN.

    For write paths that read first: they queue behind the current writer
    instead of failing on a stale read.  No effect on PostgreSQL.
    """
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`; objects stay readable after commit (no reload per attribute)."""
    return sessionmaker(engine, expire_on_commit=False)


def make_async_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Async sessions on `engine`; after commit, attributes are read without awaiting."""
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgresql(engine: Engine | AsyncEngine) -> bool:
    """Whether `engine` talks to PostgreSQL (row locks, SKIP LOCKED) rather than SQLite."""
    return engine.dialect.name == "postgresql"
