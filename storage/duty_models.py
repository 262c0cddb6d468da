"""On-call duty (seed 003 运维技术服务值班管理制度): the monthly rota, the calls and visits
recorded on tickets, and the month-end hand-over, on the shared declarative Base.

- `DutyRota` — who is on duty in a month (每月轮换一次): one engineer per month.
- `ContactRecord` — one call or visit on a ticket, with its duration and result
  (3.2.D 值班人员须记录每一通电话的处理结果，并记录通话时长 …).
- `DutyHandover` — the month's 值班记录表 the engineer on duty hands to the next one
  (3.2.F), with the month's figures and the tickets still to follow (3.2.G).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

__all__ = ["CONTACT_KINDS", "ContactRecord", "DutyHandover", "DutyRota"]

# A contact is a phone call (电话) or an on-site visit (上门).
CONTACT_KINDS: tuple[str, ...] = ("call", "visit")


class DutyRota(Base):
    """The engineer on duty for one month (``YYYY-MM``, Asia/Shanghai)."""

    __tablename__ = "duty_rota"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)
    engineer_id: Mapped[int] = mapped_column(ForeignKey("engineers.id"), index=True)
    # The manager who set it (工号).
    assigned_by: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContactRecord(Base):
    """A call or visit on a ticket: when, how long, what came of it, by whom."""

    __tablename__ = "contact_records"
    __table_args__ = (Index(None, "ticket_id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    engineer_id: Mapped[int] = mapped_column(ForeignKey("engineers.id"))
    kind: Mapped[str] = mapped_column(String(16))  # CONTACT_KINDS
    at: Mapped[datetime] = mapped_column()
    duration_s: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(Text)
    # Outside the working day or on a rest day: counted as on-call work.
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DutyHandover(Base):
    """The month-end hand-over of the duty log to the next engineer on duty."""

    __tablename__ = "duty_handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)
    from_engineer_id: Mapped[int] = mapped_column(ForeignKey("engineers.id"))
    to_engineer_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    submitted_by: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column()
    notes: Mapped[str] = mapped_column(Text, default="")
    # The month's figures and the tickets still to follow, as handed over.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
