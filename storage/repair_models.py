"""After the chat: warranty facts, sales contracts, quotes, repair jobs, replacement units.

`TicketWarranty` keeps what intake captured about the unit (serial number,
model, sign-for date, proof of purchase) and the decision taken from it; the
proof is a reference to the chat message that carries the photo or file, or a
typed invoice / order number — the files themselves stay with the message.
`SalesContract` is a customer's contract whose terms decide single-part
warranty (seed 000 1.2.d).  `RepairQuote` is the price of paid work and the
customer's confirmation (seed 004 1.5.2.3, 1.5.3), `RepairJob` one repair
path with its clock (in-house, factory, vendor RMA), `LoanerUnit` the
replacement unit offered on working day 7 (seed 000 2.1.b) until it is back.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

__all__ = ["LoanerUnit", "RepairJob", "RepairQuote", "SalesContract", "TicketWarranty"]


class SalesContract(Base):
    """A customer's sales contract: its number, the parts it covers and for how long."""

    __tablename__ = "sales_contracts"
    __table_args__ = (Index(None, "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    # Part names as the contract spells them (硬盘, 内存 …).
    parts: Mapped[list[str]] = mapped_column(JSON, default=list)
    signed_on: Mapped[date] = mapped_column(Date)
    term_months: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketWarranty(Base):
    """The unit of a ticket and its warranty decision (one row per ticket; reassessed in place)."""

    __tablename__ = "ticket_warranties"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    serial_no: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    signed_for: Mapped[date | None] = mapped_column(Date)
    proof_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    proof_reference: Mapped[str | None] = mapped_column(String(128))
    part: Mapped[str | None] = mapped_column(String(128))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("sales_contracts.id"))
    tier: Mapped[str] = mapped_column(String(32))
    free: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    covered_until: Mapped[date | None] = mapped_column(Date)
    exclusions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    assessed_by: Mapped[str] = mapped_column(String(64))
    assessed_at: Mapped[datetime] = mapped_column()


class RepairQuote(Base):
    """The price of paid work (in fen) and whether the customer confirmed it."""

    __tablename__ = "repair_quotes"
    __table_args__ = (Index(None, "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    amount_fen: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[str]] = mapped_column(JSON, default=list)
    quoted_by: Mapped[str] = mapped_column(String(64))
    quoted_at: Mapped[datetime] = mapped_column()
    # The quote line sent to the customer: a confirmation is a later customer message.
    quote_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # A newer quote replaces an unconfirmed one.
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column()
    confirmed_by: Mapped[str | None] = mapped_column(String(128))
    # "customer" (a chat message, `confirmation_message_id`) or "engineer" (a note).
    confirmation_source: Mapped[str | None] = mapped_column(String(16))
    confirmation_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    confirmation_note: Mapped[str | None] = mapped_column(Text)


class RepairJob(Base):
    """One repair path of a ticket and its clock (working days from the project's calendar)."""

    __tablename__ = "repair_jobs"
    __table_args__ = (Index(None, "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    # "in_house" (≤ 7 working days with parts), "factory" (10–15), "vendor" (RMA).
    path: Mapped[str] = mapped_column(String(16))
    vendor: Mapped[str | None] = mapped_column(String(200))
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column()
    # The limit (in-house, factory: first day of 10–15; vendor: none).
    due_on: Mapped[date | None] = mapped_column(Date)
    latest_on: Mapped[date | None] = mapped_column(Date)
    # The vendor's return date the product manager obtained (seed 000 2.2.b).
    promised_on: Mapped[date | None] = mapped_column(Date)
    finished_at: Mapped[datetime | None] = mapped_column()
    # Seed 004 1.3.5: replaced parts go to the customer unless they do not want them.
    old_parts: Mapped[str | None] = mapped_column(String(32))


class LoanerUnit(Base):
    """A replacement unit (备用机) lent to the customer until the repaired one is back."""

    __tablename__ = "loaner_units"
    __table_args__ = (Index(None, "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    serial_no: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column()
    returned_at: Mapped[datetime | None] = mapped_column()
    returned_by: Mapped[str | None] = mapped_column(String(64))
