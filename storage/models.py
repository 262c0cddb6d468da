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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from storage.enums import (
    RETIRED_EVENTS,
    SPEC_EVENTS,
    DeliveryStatus,
    Direction,
    EngineerRole,
    EventKind,
    MessageRole,
    Polarity,
    Severity,
    TicketStatus,
    TimerStatus,
    Verdict,
)
from storage.types import AwareDateTime

# The enumerations live in `storage.enums`; importing them from here keeps working.
__all__ = [
    "RETIRED_EVENTS",
    "SPEC_EVENTS",
    "Base",
    "ChannelToken",
    "CheckRun",
    "Customer",
    "DeliveryStatus",
    "Direction",
    "Engineer",
    "EngineerRole",
    "EventKind",
    "Exemplar",
    "Finding",
    "Message",
    "MessageRole",
    "Polarity",
    "QaReview",
    "Severity",
    "Ticket",
    "TicketCounter",
    "TicketEvent",
    "TicketStatus",
    "Timer",
    "TimerStatus",
    "Verdict",
    "utcnow",
]

# Constraint and index names are spelled out so that migrations can name them
# and both databases end up with identical names.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, aware, in UTC (the default of every timestamp column)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The declarative base of every table; `Mapped[datetime]` means an `AwareDateTime`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: AwareDateTime(), dict[str, Any]: JSON()}


def _enum(cls: type[enum.Enum], name: str) -> SAEnum:
    """A string column holding the enum's values (not its member names).

    No native enum type and no CHECK constraint: SQLite and PostgreSQL store
    the same strings, and adding a member (a new internal event kind) needs
    no table rebuild on SQLite.  The ORM refuses unknown strings on write.
    """
    return SAEnum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Engineer(Base):
    """A member of the after-sales roster, known to customers by name and 工号."""

    __tablename__ = "engineers"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_no: Mapped[str] = mapped_column(String(32), unique=True)  # 工号
    name: Mapped[str] = mapped_column(String(64))
    # `EngineerRole` values.  A JSON list is not change-tracked in place:
    # assign a new list (which is also what the check below sees).
    roles: Mapped[list[str]] = mapped_column(JSON, default=lambda: [EngineerRole.ENGINEER.value])
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("roles")
    def _check_roles(self, _key: str, roles: list[str]) -> list[str]:
        known = {role.value for role in EngineerRole}
        unknown = [role for role in roles if role not in known]
        if unknown:
            raise ValueError(f"engineers.roles: unknown role(s) {unknown!r}; use {sorted(known)!r}")
        return [str(role) for role in roles]


class Customer(Base):
    """A customer as one channel knows them (a WeChat openid, a web visitor …)."""

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
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    # The same person on another channel: the first row of that person (the root),
    # linked by phone number or by an engineer; NULL on the root itself.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    anonymised_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tickets: Mapped[list[Ticket]] = relationship(back_populates="customer")

    def anonymise(self, at: datetime) -> None:
        """Wipe the personal data (WeChat unsubscribe), keeping the row for the tickets.

        The channel identity becomes `anon:<id>`: unique, and no longer the
        person's, so a later message from the same openid opens a new customer.
        Needs a flushed row (an id).  Message texts are not touched here.
        """
        if self.id is None:
            raise ValueError("customers: anonymise() needs a flushed row (no id yet)")
        self.external_id = f"anon:{self.id}"
        self.display_name = None
        self.surname = None
        self.title = None
        self.phone = None
        self.anonymised_at = at


class Ticket(Base):
    """One after-sales case, from the customer's first message to closing and archiving.

    `version_id` is SQLAlchemy's optimistic lock: an update from a stale copy
    (another worker changed the ticket meanwhile) raises `StaleDataError`.
    """

    __tablename__ = "tickets"
    __table_args__ = (
        Index(None, "status"),
        Index(None, "opened_at"),
        Index(None, "customer_id"),
        Index(None, "assigned_engineer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # PS-20261123-0007
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
    # Delivery waits 72 h of stable running instead of 24 h.
    intermittent_fault: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lifecycle times (the SPEC §4 events, as columns for the SLA timers).
    opened_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    remote_login_at: Mapped[datetime | None] = mapped_column()
    solution_given_at: Mapped[datetime | None] = mapped_column()
    extension_granted_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # Script-line bookkeeping (SCR003, SCR006) and the knowledge-base archive.
    backup_warning_sent_at: Mapped[datetime | None] = mapped_column()
    backup_confirmed_at: Mapped[datetime | None] = mapped_column()
    suggestion_requested_at: Mapped[datetime | None] = mapped_column()
    suggestion_declined_at: Mapped[datetime | None] = mapped_column()
    archived_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer)

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
    """One line of a conversation: a customer's message, an engineer's reply, an event.

    Stored before a ticket exists when need be (`ticket_id` NULL).  The
    channel's own message id (`external_id`) is unique per channel, so a
    redelivered webhook cannot store the same message twice; lines that have
    no channel id (NULL) never collide.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index(None, "ticket_id", "sent_at"),
        Index(None, "in_reply_to_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(128))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    role: Mapped[MessageRole] = mapped_column(_enum(MessageRole, "message_role"))
    # 工号 for an agent line, the channel identity for a customer line.
    sender: Mapped[str | None] = mapped_column(String(128))
    sender_name: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    # text, image, voice, event …: what the channel delivered.
    kind: Mapped[str] = mapped_column(String(16), default="text")
    sent_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(
        _enum(DeliveryStatus, "delivery_status")
    )
    # Why delivery failed (the channel's errcode and message), for the console.
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # An engineer who sends despite a pre-send warning records why.
    override_reason: Mapped[str | None] = mapped_column(Text)
    # The script line (ScriptKey value) that produced an outbound line.
    prompted_by: Mapped[str | None] = mapped_column(String(32))
    # The customer message an outbound line answers, when it was stored in the
    # same step (the greeting, the survey …): what a redelivered message is
    # answered with again, and what WeChat sent as its passive reply.
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))

    ticket: Mapped[Ticket | None] = relationship(back_populates="messages")


class TicketEvent(Base):
    """Something that happened to a ticket, with who did it and any detail (`data`)."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index(None, "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    event: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    actor: Mapped[str | None] = mapped_column(String(64))  # 工号, "bot" or "system"
    at: Mapped[datetime] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class CheckRun(Base):
    """One run of the compliance checker: what it read, under which policy, how much it found."""

    __tablename__ = "check_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    source: Mapped[str] = mapped_column(Text)  # the files read, or the database range
    policy_name: Mapped[str] = mapped_column(String(128))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sessions_checked: Mapped[int] = mapped_column(Integer, default=0)
    findings_count: Mapped[int] = mapped_column(Integer, default=0)

    findings: Mapped[list[Finding]] = relationship(back_populates="check_run")


class Finding(Base):
    """A rule violation the checker reported (the SPEC §3 JSON finding, plus evidence)."""

    __tablename__ = "findings"
    __table_args__ = (
        Index(None, "session"),
        Index(None, "rule"),
        Index(None, "agent"),
        Index(None, "check_run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_run_id: Mapped[int] = mapped_column(ForeignKey("check_runs.id"))
    session: Mapped[str] = mapped_column(String(128))  # ticket number or transcript session id
    rule: Mapped[str] = mapped_column(String(16))  # SCR001 …
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    ts: Mapped[datetime | None] = mapped_column()
    index: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    # Where the evidence is in the line's text, [start, end); NULL for findings on no
    # text and for rows saved before revision 0011.
    span_start: Mapped[int | None] = mapped_column(Integer)
    span_end: Mapped[int | None] = mapped_column(Integer)
    suggestion: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))  # the transcript file, if any
    # The detector layer that caught it (phrase / operator / similarity) and how sure it
    # was (0–1); NULL for rules that do not read text by layers and for older rows.
    layer: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    # True when the rule had no event to go on and read it from the text (SPEC §4).
    inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    check_run: Mapped[CheckRun] = relationship(back_populates="findings")
    reviews: Mapped[list[QaReview]] = relationship(back_populates="finding")


class QaReview(Base):
    """A QA reviewer's verdict on a finding (a false positive is kept, not deleted)."""

    __tablename__ = "qa_reviews"
    __table_args__ = (Index(None, "finding_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    reviewer: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "verdict"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    finding: Mapped[Finding] = relationship(back_populates="reviews")


class Exemplar(Base):
    """A sentence QA's marks taught a detector: a confirmed finding's line is a positive
    exemplar, a false positive's a negative one (`compliance.detection`).

    One active exemplar per finding: a new verdict on the same finding retires the
    previous one (``active`` false), so the history stays.
    """

    __tablename__ = "exemplars"
    __table_args__ = (Index(None, "detector"), Index(None, "finding_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    detector: Mapped[str] = mapped_column(String(64))  # abuse, block_threat, remote …
    rule: Mapped[str] = mapped_column(String(16))
    polarity: Mapped[Polarity] = mapped_column(_enum(Polarity, "polarity"))
    text: Mapped[str] = mapped_column(Text)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    session: Mapped[str | None] = mapped_column(String(128))
    reviewer: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Timer(Base):
    """A durable SLA timer: due at a time, claimed by one worker, fired at most once.

    A worker claims due timers by setting `locked_by` / `locked_until` (a
    lease, so a crashed worker's timers come free again); `attempts` counts
    firings that failed.
    """

    __tablename__ = "timers"
    __table_args__ = (Index(None, "status", "due_at"), Index(None, "ticket_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))  # accept_reminder, solution_deadline …
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

    ticket: Mapped[Ticket] = relationship()


class ChannelToken(Base):
    """A channel API access token shared by every worker (WeChat allows one live token).

    One worker at a time refreshes it: it sets `refreshing_by` / `refreshing_until`
    (a lease), the others keep using the old token until the new one is stored.
    """

    __tablename__ = "channel_tokens"
    __table_args__ = (UniqueConstraint("channel", "app_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(64))
    # Sealed (`storage.sealing`) when AFTERSALES_SECRET_KEY is set.
    access_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column()
    refreshing_by: Mapped[str | None] = mapped_column(String(64))
    refreshing_until: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketCounter(Base):
    """Last ticket sequence number of a local day (PS-YYYYMMDD-NNNN); see `storage.tickets`."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYYMMDD, Asia/Shanghai
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
