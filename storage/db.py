"""One place that makes engines and session factories, for SQLite and PostgreSQL.

The embedded default is a SQLite file in the working directory; the same code
runs on PostgreSQL (`postgresql+psycopg://…`), where several processes may
share one database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DB_URL = "sqlite:///aftersales.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 15_000


class DatabaseURLError(ValueError):
    """A database URL the product cannot use; the message says what to write instead."""


def normalise_url(url: str | URL, *, asynchronous: bool = False) -> URL:
    """Map a user-given URL onto the drivers the product ships.

    `postgresql://` and `postgres://` become `postgresql+psycopg://`;
    `sqlite://` becomes `sqlite+aiosqlite://` for the async engine.
    """
    try:
        parsed = make_url(str(url).replace("postgres://", "postgresql://", 1))
    except Exception as exc:  # sqlalchemy raises ArgumentError for junk
        raise DatabaseURLError(f"not a database URL: {url!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        driver = "aiosqlite" if asynchronous else "pysqlite"
        return parsed.set(drivername=f"sqlite+{driver}")
    if backend == "postgresql":
        # Only psycopg (3) is installed; it serves sync and async alike.
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseURLError(
        f"unsupported database {backend!r} in {url!r}: use sqlite:///FILE or "
        "postgresql+psycopg://USER@HOST:PORT/DB"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str | URL = DEFAULT_DB_URL, **kwargs: Any) -> Engine:
    """A synchronous engine (command line, migrations, checker)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def make_async_engine(url: str | URL = DEFAULT_DB_URL, **kwargs: Any) -> AsyncEngine:
    """An asyncio engine (the aiohttp app) on the same database."""
    parsed = normalise_url(url, asynchronous=True)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = create_async_engine(parsed, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(parsed, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_async_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgresql(engine: Engine | AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"
