"""The knowledge base and the search index, on the shared declarative Base.

- `SolutionRecord` — what closing a ticket must leave behind (seed 000
  【售后过程标准】1.6 归档): how the problem was handled, the attachments (file
  names or chat message numbers) and the test report; archiving (within 2 working
  days) files it as the ticket's archived solution, or links the ticket to the
  archived ticket it duplicates instead.
- `SearchDocument` — one searchable text (a ticket's number and summary, one
  chat line, one archived solution) with its jieba-segmented `tokens`.  The
  database's own full-text index reads `tokens`: an FTS5 table on SQLite, a GIN
  index over ``to_tsvector('simple', tokens)`` on PostgreSQL (both made by
  migration 0150, outside the models: see `storage.search`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

__all__ = ["DOCUMENT_KINDS", "SearchDocument", "SolutionRecord"]

# What a search document is: a ticket (number, summary), a chat line, an archived solution.
DOCUMENT_KINDS: tuple[str, ...] = ("ticket", "message", "solution")


class SolutionRecord(Base):
    """A closed ticket's solution record and its archive state (one row per ticket)."""

    __tablename__ = "solution_records"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    # 处理过程: what was done, step by step.
    process: Mapped[str] = mapped_column(Text)
    # 附件: file names, links or 第N条 chat lines that carry a photo or a log.
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    # 测试报告: how the fix was verified (烤机, 压力测试 …).
    test_report: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column()
    # 问题描述 as filed in the knowledge base (the engineer's words, not the customer's).
    problem: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column()
    archived_by: Mapped[str | None] = mapped_column(String(64))
    # Set instead of filing: the archived ticket this one duplicates.
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class SearchDocument(Base):
    """One searchable text; `ref_id` is the ticket's, the message's or the ticket's again."""

    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id"),
        Index(None, "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    # The text as written (for snippets) and the same text cut into words by jieba.
    body: Mapped[str] = mapped_column(Text)
    tokens: Mapped[str] = mapped_column(Text)
    # customer / agent for a chat line, else NULL.
    role: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
