"""SQLAlchemy 2 models: engineers, customers, tickets, messages, events, findings, timers.

Conventions (from pypi/warehouse): typed declarative models, one `MetaData`
naming convention so migrations name constraints the same on SQLite and
PostgreSQL, enums stored by value as strings (no native enum types, so both
databases behave the same), timezone-aware timestamps stored in UTC, plural
snake_case table names.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import AwareDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: AwareDateTime(), dict[str, Any]: JSON()}


def _enum(cls: type[enum.Enum], name: str) -> SAEnum:
    return SAEnum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class TicketStatus(enum.StrEnum):
    OPENED = "opened"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageRole(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    EVENT = "event"
    SYSTEM = "system"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED_BY_CHANNEL = "blocked_by_channel"
    MISSED = "missed"


class EventKind(enum.StrEnum):
    # The SPEC §4 vocabulary: what `aftersales check` reads.
    TICKET_OPENED = "ticket_opened"
    TICKET_ACCEPTED = "ticket_accepted"
    REMOTE_LOGIN = "remote_login"
    SOLUTION_GIVEN = "solution_given"
    EXTENSION_GRANTED = "extension_granted"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"
    SATISFACTION_RATED = "satisfaction_rated"
    # Internal steps of the bot, kept for the audit trail; the checker skips them.
    REASSIGNED = "reassigned"
    BACKUP_WARNING_SENT = "backup_warning_sent"
    BACKUP_CONFIRMED = "backup_confirmed"
    REMOTE_REQUESTED = "remote_requested"
    REMINDER_SENT = "reminder_sent"
    PROGRESS_UPDATE_DUE = "progress_update_due"
    RMA_CHASE_DUE = "rma_chase_due"
    NOTE = "note"


SPEC_EVENTS: frozenset[str] = frozenset(
    {
        "ticket_opened",
        "ticket_accepted",
        "remote_login",
        "solution_given",
        "extension_granted",
        "escalated",
        "resolved",
        "closed",
        "satisfaction_rated",
    }
)


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Verdict(enum.StrEnum):
    FALSE_POSITIVE = "false_positive"
    CONFIRMED = "confirmed"


class TimerStatus(enum.StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class Engineer(Base):
    __tablename__ = "engineers"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["engineer"])
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The channel identity (WeChat openid, web visitor id …); replaced by an
    # anonymous reference when the customer's personal data is deleted.
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(128))
    surname: Mapped[str | None] = mapped_column(String(32))
    # 总 / 老师 …: with the surname, how the customer is addressed (张总).
    title: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    anonymised_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tickets: Mapped[list[Ticket]] = relationship(back_populates="customer")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index(None, "status"), Index(None, "opened_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, "ticket_status"), default=TicketStatus.OPENED
    )
    fault_level: Mapped[str | None] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str | None] = mapped_column(Text)
    assigned_engineer_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    # Warranty facts (seed 000 【售后过程标准】1.2).
    sign_for_date: Mapped[date | None] = mapped_column(Date)
    serial_no: Mapped[str | None] = mapped_column(String(64))
    warranty_status: Mapped[str | None] = mapped_column(String(32))
    warranty_reason: Mapped[str | None] = mapped_column(Text)
    distance_km: Mapped[float | None] = mapped_column(Float)
    intermittent_fault: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lifecycle times.
    opened_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    remote_login_at: Mapped[datetime | None] = mapped_column()
    solution_given_at: Mapped[datetime | None] = mapped_column()
    extension_granted_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    backup_warning_sent_at: Mapped[datetime | None] = mapped_column()
    backup_confirmed_at: Mapped[datetime | None] = mapped_column()
    suggestion_requested_at: Mapped[datetime | None] = mapped_column()
    suggestion_declined_at: Mapped[datetime | None] = mapped_column()
    archived_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}

    customer: Mapped[Customer] = relationship(back_populates="tickets")
    assigned_engineer: Mapped[Engineer | None] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.sent_at"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.at"
    )


class Message(Base):
    __tablename__ = "messages"
    # Redelivery of the same channel message is refused by this constraint.
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index(None, "ticket_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(128))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    role: Mapped[MessageRole] = mapped_column(_enum(MessageRole, "message_role"))
    sender: Mapped[str | None] = mapped_column(String(128))
    sender_name: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="text")
    sent_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(
        _enum(DeliveryStatus, "delivery_status")
    )
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # An engineer who sends despite a pre-send warning records why.
    override_reason: Mapped[str | None] = mapped_column(Text)
    # The script line (ScriptKey value) that produced an outbound line.
    prompted_by: Mapped[str | None] = mapped_column(String(32))

    ticket: Mapped[Ticket | None] = relationship(back_populates="messages")


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    __table_args__ = (Index(None, "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    event: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    actor: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class CheckRun(Base):
    __tablename__ = "check_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    source: Mapped[str] = mapped_column(Text)
    policy_name: Mapped[str] = mapped_column(String(128))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sessions_checked: Mapped[int] = mapped_column(Integer, default=0)
    findings_count: Mapped[int] = mapped_column(Integer, default=0)

    findings: Mapped[list[Finding]] = relationship(back_populates="check_run")


class Finding(Base):
    __tablename__ = "findings"
    __table_args__ = (Index(None, "session"), Index(None, "rule"), Index(None, "agent"))

    id: Mapped[int] = mapped_column(primary_key=True)
    check_run_id: Mapped[int] = mapped_column(ForeignKey("check_runs.id"))
    session: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(16))
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    ts: Mapped[datetime | None] = mapped_column()
    index: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    suggestion: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    check_run: Mapped[CheckRun] = relationship(back_populates="findings")
    reviews: Mapped[list[QaReview]] = relationship(back_populates="finding")


class QaReview(Base):
    __tablename__ = "qa_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    reviewer: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "verdict"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    finding: Mapped[Finding] = relationship(back_populates="reviews")


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (Index(None, "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[TimerStatus] = mapped_column(
        _enum(TimerStatus, "timer_status"), default=TimerStatus.PENDING
    )
    fired_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelToken(Base):
    """An API access token shared by every worker (one refresher at a time)."""

    __tablename__ = "channel_tokens"
    __table_args__ = (UniqueConstraint("channel", "app_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(64))
    access_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column()
    refreshing_by: Mapped[str | None] = mapped_column(String(64))
    refreshing_until: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketCounter(Base):
    """Last ticket sequence number of a local day (PS-YYYYMMDD-NNNN)."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
