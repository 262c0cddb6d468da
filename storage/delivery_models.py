"""Delivery: the on-site visit, the checklists an engineer ticks, what reminders were read.

`OnsiteVisit` is a ticket's visit (seed 000 1.5): the distance, the deadline by
distance or — over 300 km — the date agreed with the customer, how often it was
rescheduled, and the arrival.  `ChecklistTick` is one ticked item of the 上门,
在司 or return list (the items are the policy's ``[delivery]`` lists).
`ReminderRead` is how far a staff member has read their reminders: the console's
count of new ones starts after it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

__all__ = ["ChecklistTick", "OnsiteVisit", "ReminderRead"]


class OnsiteVisit(Base):
    """A ticket's on-site visit (one per ticket; planned again in place)."""

    __tablename__ = "onsite_visits"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    distance_km: Mapped[float] = mapped_column(Float)
    # The tier's limit (2 or 3 working days); None over the last tier (agreed date).
    working_days: Mapped[int | None] = mapped_column(Integer)
    # The day to be on site by; None while a far visit's date is not agreed yet.
    due_on: Mapped[date | None] = mapped_column(Date)
    # The date was agreed with the customer (over 300 km, or after a reschedule).
    agreed: Mapped[bool] = mapped_column(Boolean, default=False)
    planned_by: Mapped[str | None] = mapped_column(String(64))
    planned_at: Mapped[datetime] = mapped_column()
    reschedules: Mapped[int] = mapped_column(Integer, default=0)
    arrived_at: Mapped[datetime | None] = mapped_column()
    arrived_by: Mapped[str | None] = mapped_column(String(64))
    # Arrived after the day it was due by (the reschedule line should have gone out).
    late: Mapped[bool | None] = mapped_column(Boolean)


class ChecklistTick(Base):
    """One ticked item of a ticket's checklist (onsite, workshop or return)."""

    __tablename__ = "checklist_ticks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "checklist", "item"),
        Index(None, "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    checklist: Mapped[str] = mapped_column(String(16))
    item: Mapped[str] = mapped_column(String(64))
    ticked_by: Mapped[str] = mapped_column(String(64))
    ticked_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderRead(Base):
    """The newest reminder event a staff member has marked read."""

    __tablename__ = "reminder_reads"

    staff_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_event_id: Mapped[int] = mapped_column(Integer, default=0)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
