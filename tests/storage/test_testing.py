"""The test helpers other packages rely on: PostgreSQL schema isolation, rolled-back sessions."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, select, text

from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Customer
from storage.testing import (
    PG_SKIP_REASON,
    PG_URL_ENV,
    pg_test_url,
    rolled_back_session,
    temporary_pg_schema,
)
from tests.storage import factories


def test_pg_test_url_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PG_URL_ENV, raising=False)
    assert pg_test_url() is None
    monkeypatch.setenv(PG_URL_ENV, "  ")
    assert pg_test_url() is None
    monkeypatch.setenv(PG_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert pg_test_url() == "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_temporary_pg_schema_needs_postgresql() -> None:
    with (
        pytest.raises(ValueError, match="needs a PostgreSQL URL"),
        temporary_pg_schema("sqlite:///x.sqlite3"),
    ):
        pass


def _schema_exists(engine: Engine, schema: str) -> bool:
    with engine.connect() as conn:
        query = text("SELECT count(*) FROM pg_namespace WHERE nspname = :name")
        return bool(conn.execute(query, {"name": schema}).scalar_one())


@pytest.mark.postgres
def test_temporary_schemas_are_isolated_and_dropped() -> None:
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    admin = make_engine(base)
    try:
        with temporary_pg_schema(base) as first, temporary_pg_schema(base) as second:
            upgrade(first)
            first_engine, second_engine = make_engine(first), make_engine(second)
            with first_engine.connect() as conn:
                schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            assert schema.startswith("t_")
            assert "tickets" in inspect(first_engine).get_table_names()
            assert inspect(second_engine).get_table_names() == []
            first_engine.dispose()
            second_engine.dispose()
            assert _schema_exists(admin, schema)
        assert not _schema_exists(admin, schema)
    finally:
        admin.dispose()


def test_a_rolled_back_session_leaves_nothing_behind(engine: Engine) -> None:
    with rolled_back_session(engine) as session:
        factories.customer(session, external_id="kept-until-the-end")
        session.commit()  # code under test may commit: only a savepoint is released
        assert session.scalars(select(Customer.external_id)).all() == ["kept-until-the-end"]
    with rolled_back_session(engine) as session:
        assert session.scalars(select(Customer)).all() == []
