"""Ticket numbers: local day, daily sequence, unique under concurrent creation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storage.db import make_async_engine, make_async_sessionmaker, make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.tickets import format_ticket_number, next_ticket_number, next_ticket_number_async

# 2026-11-22 23:30 UTC is already 2026-11-23 07:30 in Shanghai.
LATE_UTC = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)


def test_numbers_follow_the_local_day(session: Session) -> None:
    numbers = [next_ticket_number(session, LATE_UTC) for _ in range(3)]
    assert numbers == ["PS-20261123-0001", "PS-20261123-0002", "PS-20261123-0003"]
    # 15:59:59 UTC is 23:59:59 in Shanghai; a second later is the next day.
    end_of_day = datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)
    assert next_ticket_number(session, end_of_day) == "PS-20261123-0004"
    assert next_ticket_number(session, end_of_day + timedelta(seconds=1)) == "PS-20261124-0001"
    assert next_ticket_number(session, LATE_UTC, prefix="JD") == "JD-20261123-0005"


def test_bad_arguments_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="opened_at must be timezone-aware"):
        next_ticket_number(session, datetime(2026, 11, 23, 9, 0))
    with pytest.raises(ValueError, match="prefix must be ASCII letters/digits, got 'P-S'"):
        next_ticket_number(session, LATE_UTC, prefix="P-S")


def test_formatting() -> None:
    assert format_ticket_number("PS", "20261123", 7) == "PS-20261123-0007"
    assert format_ticket_number("PS", "20261123", 10000) == "PS-20261123-10000"


def test_a_rolled_back_number_is_handed_out_again(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with factory() as session:
        assert next_ticket_number(session, LATE_UTC) == "PS-20261123-0001"
        session.rollback()
    with factory() as session:
        assert next_ticket_number(session, LATE_UTC) == "PS-20261123-0001"
        session.commit()
    with factory() as session:
        assert next_ticket_number(session, LATE_UTC) == "PS-20261123-0002"


async def test_the_async_variant(db_url: str) -> None:
    upgrade(db_url)
    engine = make_async_engine(db_url)
    try:
        async with make_async_sessionmaker(engine)() as session:
            first = await next_ticket_number_async(session, LATE_UTC)
            second = await next_ticket_number_async(session, LATE_UTC, prefix="PS")
            await session.commit()
    finally:
        await engine.dispose()
    assert (first, second) == ("PS-20261123-0001", "PS-20261123-0002")


def _take_concurrently(url: str, per_worker: int) -> list[str]:
    """Two threads, each on its own connection, take numbers at the same moment."""
    upgrade(url)
    engine = make_engine(url, pool_size=2) if url.startswith("postgresql") else make_engine(url)
    factory = make_sessionmaker(engine)
    taken: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            for _ in range(per_worker):
                with factory() as session:
                    taken.append(next_ticket_number(session, LATE_UTC))
                    session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.dispose()
    assert errors == []
    return taken


def test_numbers_are_unique_under_concurrency_on_postgresql(pg_url: str) -> None:
    taken = _take_concurrently(pg_url, per_worker=50)
    assert sorted(taken) == [f"PS-20261123-{i:04d}" for i in range(1, 101)]


def test_numbers_are_unique_under_concurrency_on_sqlite(sqlite_url: str) -> None:
    taken = _take_concurrently(sqlite_url, per_worker=50)
    assert sorted(taken) == [f"PS-20261123-{i:04d}" for i in range(1, 101)]
