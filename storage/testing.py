"""Helpers for tests that need a database: an isolated PostgreSQL schema, a rolled-back session.

`pg_test_url()` reads `AFTERSALES_TEST_PG_URL` (CI sets it); tests skip with
`PG_SKIP_REASON` when it is unset.  `temporary_pg_schema(url)` creates a fresh
schema and yields a URL whose connections use it (search_path), then drops it,
so parallel test runs and test packages never see each other's tables.
`rolled_back_session(engine)` gives a test a session whose work, commits
included, is undone at the end.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage.db import make_engine, normalise_url

PG_URL_ENV = "AFTERSALES_TEST_PG_URL"
PG_SKIP_REASON = (
    f"PostgreSQL tests need {PG_URL_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
)


def pg_test_url() -> str | None:
    """The PostgreSQL URL for tests, or None when `AFTERSALES_TEST_PG_URL` is unset or empty."""
    return os.environ.get(PG_URL_ENV, "").strip() or None


@contextmanager
def temporary_pg_schema(base_url: str) -> Iterator[str]:
    """Yield a URL on a new, empty schema `t_<random>` of `base_url`'s database; drop it after.

    Every connection made from the yielded URL (sync or async engine) has
    `search_path` set to the schema, so migrations and tables land there.
    """
    url = normalise_url(base_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"temporary_pg_schema needs a PostgreSQL URL, got {base_url!r}")
    schema = f"t_{secrets.token_hex(6)}"
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        try:
            with admin.begin() as conn:
                # A connection left open in a transaction would block the drop forever.
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        except DBAPIError as exc:
            warnings.warn(f"could not drop test schema {schema}: {exc}", stacklevel=2)
        finally:
            admin.dispose()


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session in an outer transaction that is rolled back at the end, commits included.

    The session's `commit()` only releases a savepoint, so code under test may
    commit as usual; nothing it writes outlives the block.
    """
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


__all__ = [
    "PG_SKIP_REASON",
    "PG_URL_ENV",
    "pg_test_url",
    "rolled_back_session",
    "temporary_pg_schema",
]
