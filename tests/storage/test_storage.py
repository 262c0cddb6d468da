"""Storage: migrations on both databases, aware times, de-duplication, ticket numbers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from storage.db import DatabaseURLError, make_engine, make_sessionmaker, normalise_url
from storage.migrate import current, downgrade, heads, upgrade
from storage.models import Base, EventKind, Message, Ticket, TicketEvent, TicketStatus
from storage.tickets import next_ticket_number
from tests.storage import factories

TABLES = {
    "engineers",
    "customers",
    "tickets",
    "messages",
    "ticket_events",
    "check_runs",
    "findings",
    "qa_reviews",
    "timers",
    "channel_tokens",
    "ticket_counters",
}


def test_one_head() -> None:
    assert len(heads()) == 1


def test_migrations_up_down_up(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert current(engine) == heads()[0]
        downgrade(db_url, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        assert current(engine) is None
        upgrade(db_url)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_times_come_back_aware_and_naive_is_refused(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    shanghai = timezone(timedelta(hours=8))
    opened = datetime(2026, 11, 23, 9, 31, 5, tzinfo=shanghai)
    with factory() as session:
        ticket = factories.ticket(session, opened_at=opened)
        session.commit()
        ticket_id = ticket.id
    with factory() as session:
        loaded = session.get(Ticket, ticket_id)
        assert loaded is not None
        assert loaded.opened_at.tzinfo is not None
        assert loaded.opened_at == opened
        assert loaded.status is TicketStatus.OPENED
    with factory() as session, pytest.raises(StatementError, match="naive datetime"):
        factories.ticket(session, opened_at=datetime(2026, 11, 23, 9, 31))


def test_enums_are_stored_by_value(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with factory() as session:
        ticket = factories.ticket(session)
        factories.ticket_event(
            session, ticket=ticket, event=EventKind.SATISFACTION_RATED, data={"rating": "很满意"}
        )
        session.commit()
        raw = session.execute(text("SELECT event, data FROM ticket_events")).one()
        assert raw[0] == "satisfaction_rated"
        event = session.scalars(select(TicketEvent)).one()
        assert event.data == {"rating": "很满意"}


def test_a_redelivered_message_is_refused(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with factory() as session:
        factories.message(session, channel="wechat", external_id="6054768590064713728")
        session.commit()
    with factory() as session:
        with pytest.raises(IntegrityError):
            factories.message(session, channel="wechat", external_id="6054768590064713728")
        session.rollback()
        # The same id on another channel is a different message.
        factories.message(session, channel="wecom", external_id="6054768590064713728")
        session.commit()
        assert len(session.scalars(select(Message)).all()) == 2


def test_ticket_numbers_follow_the_local_day(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    # 2026-11-22 23:30 UTC is already 2026-11-23 in Shanghai.
    late = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    with factory() as session:
        numbers = [next_ticket_number(session, late) for _ in range(3)]
        other = next_ticket_number(session, late + timedelta(days=1), prefix="PS")
        session.commit()
    assert numbers == ["PS-20261123-0001", "PS-20261123-0002", "PS-20261123-0003"]
    assert other == "PS-20261124-0001"


def test_ticket_numbers_unique_under_concurrency(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url, pool_size=4)
    factory = make_sessionmaker(engine)
    opened = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            for _ in range(50):
                with factory() as session:
                    results.append(next_ticket_number(session, opened))
                    session.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert errors == []
    assert len(results) == 100
    assert sorted(results) == [f"PS-20261123-{i:04d}" for i in range(1, 101)]


def test_url_normalisation() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db", asynchronous=True).drivername == "sqlite+aiosqlite"
    with pytest.raises(DatabaseURLError, match="unsupported database 'mysql'"):
        normalise_url("mysql://root@localhost/test")
    with pytest.raises(DatabaseURLError, match="not a database URL"):
        normalise_url("::nonsense::")
