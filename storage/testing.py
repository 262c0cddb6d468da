"""Helpers for tests that need a real PostgreSQL database, isolated per test run.

`pg_test_url()` reads `AFTERSALES_TEST_PG_URL` (CI sets it); tests skip with a
reason when it is unset.  `temporary_pg_schema(url)` creates a fresh schema and
yields a URL whose connections use it (search_path), then drops it, so test
runs and test packages never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import make_engine, normalise_url

PG_URL_ENV = "AFTERSALES_TEST_PG_URL"
PG_SKIP_REASON = (
    f"PostgreSQL tests need {PG_URL_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
)


def pg_test_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


@contextmanager
def temporary_pg_schema(base_url: str) -> Iterator[str]:
    """Yield a URL on a new, empty schema of `base_url`'s database; drop it afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = normalise_url(base_url)
        query = dict(url.query)
        query["options"] = f"-csearch_path={schema}"
        scoped = url.set(query=query)
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


__all__ = ["PG_SKIP_REASON", "PG_URL_ENV", "make_url", "pg_test_url", "temporary_pg_schema"]
