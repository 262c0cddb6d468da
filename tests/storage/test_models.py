"""Models on both databases: aware times, enums by value, constraints, locking, factories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from storage.db import make_sessionmaker
from storage.models import (
    SPEC_EVENTS,
    Customer,
    DeliveryStatus,
    Direction,
    Engineer,
    EventKind,
    MessageRole,
    Severity,
    Ticket,
    TicketEvent,
    TicketStatus,
    TimerStatus,
    Verdict,
)
from tests.storage import factories

SHANGHAI = timezone(timedelta(hours=8))


def test_times_come_back_aware_in_utc(session: Session) -> None:
    opened = datetime(2026, 11, 23, 9, 31, 5, 123456, tzinfo=SHANGHAI)
    ticket = factories.ticket(session, opened_at=opened, accepted_at=opened + timedelta(minutes=3))
    session.expire_all()  # read back from the database, not the identity map
    loaded = session.get(Ticket, ticket.id)
    assert loaded is not None
    assert loaded.opened_at == opened
    assert loaded.opened_at.utcoffset() == timedelta(0)
    assert loaded.accepted_at == datetime(2026, 11, 23, 1, 34, 5, 123456, tzinfo=UTC)
    assert loaded.closed_at is None
    assert loaded.updated_at.tzinfo is not None
    assert loaded.customer.created_at.tzinfo is not None


def test_times_are_stored_in_utc(session: Session) -> None:
    factories.ticket(session, opened_at=datetime(2026, 11, 23, 0, 30, tzinfo=SHANGHAI))
    raw = session.execute(text("SELECT opened_at FROM tickets")).scalar_one()
    if isinstance(raw, str):  # SQLite keeps text
        assert raw.startswith("2026-11-22 16:30:00")
    else:
        assert raw == datetime(2026, 11, 22, 16, 30, tzinfo=UTC)


def test_a_naive_time_is_refused(session: Session) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        factories.ticket(session, opened_at=datetime(2026, 11, 23, 9, 31))


def test_a_non_datetime_is_refused(session: Session) -> None:
    with pytest.raises(StatementError, match="expected a datetime, got str"):
        factories.ticket(session, opened_at="2026-11-23T09:31:00+08:00")


def test_enums_are_stored_by_value(session: Session) -> None:
    ticket = factories.ticket(session, status=TicketStatus.IN_PROGRESS)
    factories.message(
        session,
        ticket=ticket,
        direction=Direction.OUTBOUND,
        role=MessageRole.AGENT,
        delivery_status=DeliveryStatus.BLOCKED_BY_CHANNEL,
    )
    factories.ticket_event(
        session, ticket=ticket, event=EventKind.SATISFACTION_RATED, data={"rating": "很满意"}
    )
    factories.timer(session, ticket=ticket, status=TimerStatus.CANCELLED)
    factories.qa_review(
        session,
        verdict=Verdict.FALSE_POSITIVE,
        finding=factories.finding(session, severity=Severity.WARNING),
    )

    def raw(sql: str) -> tuple[Any, ...]:
        return tuple(session.execute(text(sql)).one())

    assert raw("SELECT status FROM tickets") == ("in_progress",)
    assert raw("SELECT direction, role, delivery_status FROM messages") == (
        "outbound",
        "agent",
        "blocked_by_channel",
    )
    assert raw("SELECT event FROM ticket_events WHERE event <> 'ticket_opened'") == (
        "satisfaction_rated",
    )
    assert raw("SELECT status FROM timers") == ("cancelled",)
    assert raw("SELECT severity FROM findings") == ("warning",)
    assert raw("SELECT verdict FROM qa_reviews") == ("false_positive",)

    session.expire_all()
    event = session.scalars(
        select(TicketEvent).where(TicketEvent.event == EventKind.SATISFACTION_RATED)
    ).one()
    assert event.event is EventKind.SATISFACTION_RATED
    assert event.data == {"rating": "很满意"}


def test_an_unknown_enum_value_is_refused(session: Session) -> None:
    with pytest.raises(StatementError, match="'pending_review' is not among"):
        factories.ticket(session, status="pending_review")


def test_spec_events_are_the_transcript_vocabulary() -> None:
    assert {str(kind) for kind in SPEC_EVENTS} == {
        "ticket_opened",
        "ticket_accepted",
        "remote_login",
        "solution_given",
        "extension_granted",
        "escalated",
        "resolved",
        "closed",
        "satisfaction_rated",
        "complaint_opened",
        "complaint_resolved",
    }
    assert set(EventKind) > SPEC_EVENTS


def test_a_redelivered_message_is_refused(session: Session) -> None:
    factories.message(session, channel="wechat", external_id="6054768590064713728")
    with session.begin_nested(), pytest.raises(IntegrityError):
        factories.message(session, channel="wechat", external_id="6054768590064713728")
    # The same id on another channel is another message; lines without one never collide.
    factories.message(session, channel="wecom", external_id="6054768590064713728")
    factories.message(session, channel="web", external_id=None)
    factories.message(session, channel="web", external_id=None)
    count = session.execute(text("SELECT count(*) FROM messages")).scalar_one()
    assert count == 4


def test_a_customer_is_unique_per_channel_identity(session: Session) -> None:
    factories.customer(session, channel="wechat", external_id="oCust1")
    with session.begin_nested(), pytest.raises(IntegrityError):
        factories.customer(session, channel="wechat", external_id="oCust1")
    factories.customer(session, channel="web", external_id="oCust1")


def test_foreign_keys_are_enforced(session: Session) -> None:
    with session.begin_nested(), pytest.raises(IntegrityError):
        factories.ticket(session, customer_id=987654)


def test_engineer_roles_are_checked(session: Session) -> None:
    engineer = factories.engineer(session, roles=["engineer", "manager"])
    session.expire_all()
    assert session.get(Engineer, engineer.id).roles == ["engineer", "manager"]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"engineers.roles: unknown role\(s\) \['boss'\]"):
        factories.engineer(session, roles=["engineer", "boss"])


def test_anonymising_a_customer_frees_the_channel_identity(session: Session) -> None:
    customer = factories.customer(
        session,
        channel="wechat",
        external_id="oCust1",
        display_name="张三",
        surname="张",
        title="总",
        phone="13800000000",
    )
    ticket = factories.ticket(session, customer=customer)
    unsubscribed = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    customer.anonymise(unsubscribed)
    session.flush()
    session.expire_all()
    wiped = session.get(Customer, customer.id)
    assert wiped is not None
    assert (wiped.external_id, wiped.display_name, wiped.surname, wiped.title, wiped.phone) == (
        f"anon:{customer.id}",
        None,
        None,
        None,
        None,
    )
    assert wiped.anonymised_at == unsubscribed
    assert [t.id for t in wiped.tickets] == [ticket.id]
    # The same openid coming back is a new customer.
    factories.customer(session, channel="wechat", external_id="oCust1")


def test_anonymise_needs_a_stored_customer() -> None:
    with pytest.raises(ValueError, match="needs a flushed row"):
        Customer(channel="wechat", external_id="oCust1").anonymise(datetime.now(UTC))


def test_a_stale_ticket_update_is_refused(engine: Engine) -> None:
    """Two workers hold the same ticket; the second to write loses (optimistic lock)."""
    factory = make_sessionmaker(engine)
    with factory() as setup:
        ticket_id = factories.ticket(setup).id
        setup.commit()
    with factory() as first, factory() as second:
        mine = first.get(Ticket, ticket_id)
        assert mine is not None
        first.commit()  # the object outlives its transaction (expire_on_commit=False)
        theirs = second.get(Ticket, ticket_id)
        assert theirs is not None
        assert (mine.version_id, theirs.version_id) == (1, 1)
        before = theirs.updated_at
        theirs.status = TicketStatus.ACCEPTED
        second.commit()
        assert theirs.version_id == 2
        assert theirs.updated_at > before
        mine.status = TicketStatus.CLOSED
        with pytest.raises(StaleDataError):
            first.commit()
    with factory() as check:
        stored = check.get(Ticket, ticket_id)
        assert stored is not None
        assert stored.status is TicketStatus.ACCEPTED


FACTORIES: list[Callable[..., object]] = [
    factories.engineer,
    factories.customer,
    factories.ticket,
    factories.message,
    factories.ticket_event,
    factories.check_run,
    factories.finding,
    factories.qa_review,
    factories.timer,
    factories.channel_token,
    factories.ticket_counter,
]


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_every_factory_makes_a_valid_row(session: Session, factory: Callable[..., object]) -> None:
    first = factory(session)
    second = factory(session)  # unique columns get fresh values
    assert first is not second
    model = type(first)
    session.expire_all()
    assert len(session.scalars(select(model)).all()) >= 2
