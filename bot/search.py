"""Searching tickets, chat lines and the knowledge base, as the console and the API see it.

`storage.search` owns the index and the query; this module applies who may see
what and shapes the results:

- an engineer (`Scope.engineer_id`) finds the tickets assigned to them and their
  chat lines — exactly what the queue and the ticket page already show them — and
  every archived solution (the knowledge base is shared);
- QA, managers and admins (`Scope.everything`) find everything, closed tickets
  included.

`similar_solutions` ranks the archived solutions against a ticket's first
customer messages (their jieba keywords, any of them matching), for the
engineer's ticket page.  `reindex` rebuilds the whole index
(``aftersales search reindex``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import search as index
from storage.knowledge_models import SolutionRecord
from storage.models import Message, MessageRole, Ticket
from storage.search_text import Snippet, keywords, query_words, snippet

MAX_QUERY_CHARS = 200
FIRST_MESSAGES = 3
SIMILAR_LIMIT = 5


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose search: everything (QA, managers), or one engineer's tickets and the archive."""

    everything: bool
    engineer_id: int | None = None

    def engineer_filter(self) -> int | None:
        if self.everything:
            return None
        # An account with no roster row sees the archive only.
        return self.engineer_id if self.engineer_id is not None else -1


@dataclass(frozen=True, slots=True)
class Found:
    """One result: what it is, where it is, and the text around the words."""

    kind: str
    number: str
    status: str
    summary: str | None
    snippet: Snippet
    role: str | None = None
    message_id: int | None = None
    at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "number": self.number,
            "status": self.status,
            "summary": self.summary,
            "snippet": "".join(text for text, _ in self.snippet),
            "highlights": [text for text, marked in self.snippet if marked],
            "role": self.role,
            "message_id": self.message_id,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class Results:
    query: str
    words: tuple[str, ...]
    tickets: list[Found] = field(default_factory=list)
    messages: list[Found] = field(default_factory=list)
    solutions: list[Found] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.tickets or self.messages or self.solutions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "words": list(self.words),
            "tickets": [f.to_dict() for f in self.tickets],
            "messages": [f.to_dict() for f in self.messages],
            "solutions": [f.to_dict() for f in self.solutions],
        }


async def _run(
    session: AsyncSession, engine: AsyncEngine, words: Sequence[str], **options: Any
) -> list[index.Hit]:
    statement = index.search_statement(engine.dialect.name, words, **options)
    if statement is None:
        return []
    return index.hits((await session.execute(statement)).all())


async def _found(
    session: AsyncSession, hits: Sequence[index.Hit], words: tuple[str, ...]
) -> list[Found]:
    ids = {hit.ticket_id for hit in hits}
    tickets = {
        t.id: t for t in (await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))).all()
    }
    out = []
    for hit in hits:
        ticket = tickets[hit.ticket_id]
        out.append(
            Found(
                kind=hit.kind,
                number=ticket.number,
                status=ticket.status.value,
                summary=ticket.summary,
                snippet=snippet(hit.body, words),
                role=hit.role,
                message_id=hit.ref_id if hit.kind == "message" else None,
                at=hit.at.isoformat() if hit.at else None,
            )
        )
    return out


async def search(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    query: str,
    scope: Scope,
    *,
    limit: int = 50,
) -> Results:
    """Tickets, chat lines and archived solutions matching every word of `query`."""
    query = query.strip()[:MAX_QUERY_CHARS]
    words = query_words(query)
    results = Results(query, words)
    if not words:
        return results
    async with sessionmaker() as session:
        hits = await _run(
            session, engine, words, engineer_id=scope.engineer_filter(), limit=limit * 3
        )
        found = await _found(session, hits, words)
    seen: set[str] = set()
    for item in found:
        if item.kind == "solution":
            results.solutions.append(item)
        elif item.kind == "message":
            results.messages.append(item)
        if item.kind in ("ticket", "message") and item.number not in seen:
            seen.add(item.number)
            results.tickets.append(item)
    del results.tickets[limit:], results.messages[limit:], results.solutions[limit:]
    return results


async def matching_ticket_ids(
    sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine, query: str, scope: Scope
) -> list[int]:
    """The ids of the tickets any document of which matches every word of `query`."""
    words = query_words(query.strip()[:MAX_QUERY_CHARS])
    async with sessionmaker() as session:
        hits = await _run(session, engine, words, engineer_id=scope.engineer_filter(), limit=500)
    return list(dict.fromkeys(hit.ticket_id for hit in hits))


async def similar_solutions(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    number: str,
    *,
    limit: int = SIMILAR_LIMIT,
) -> list[Found]:
    """Archived solutions like ticket `number`'s problem, best first (the ticket's own excluded)."""
    async with sessionmaker() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None:
            return []
        texts = (
            await session.scalars(
                select(Message.text)
                .where(Message.ticket_id == ticket.id, Message.role == MessageRole.CUSTOMER)
                .order_by(Message.sent_at, Message.id)
                .limit(FIRST_MESSAGES)
            )
        ).all()
        words = keywords("\n".join(texts))
        hits = await _run(
            session,
            engine,
            words,
            any_word=True,
            kinds=("solution",),
            exclude_ticket_id=ticket.id,
            limit=limit,
        )
        return await _found(session, hits, words)


async def solution_record(
    sessionmaker: async_sessionmaker[AsyncSession], number: str
) -> dict[str, Any] | None:
    """The ticket's solution record and archive state, for its page; None without one."""
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(SolutionRecord)
                .join(Ticket, Ticket.id == SolutionRecord.ticket_id)
                .where(Ticket.number == number)
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        duplicate = (
            await session.scalar(select(Ticket.number).where(Ticket.id == row.duplicate_of_id))
            if row.duplicate_of_id is not None
            else None
        )
        return {
            "process": row.process,
            "attachments": list(row.attachments or []),
            "test_report": row.test_report,
            "recorded_by": row.recorded_by,
            "recorded_at": row.recorded_at.isoformat(),
            "problem": row.problem,
            "archived_at": row.archived_at.isoformat() if row.archived_at else None,
            "archived_by": row.archived_by,
            "duplicate_of": duplicate,
            "text": index.solution_text(
                row.problem, row.process, row.attachments or [], row.test_report
            ),
        }


async def reindex(engine: AsyncEngine) -> int:
    """Rebuild the whole index from the tables; the number of documents."""
    async with engine.begin() as connection:
        return await connection.run_sync(index.rebuild)
