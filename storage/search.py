"""The one owner of full-text search: keeping the index in step, querying it, rebuilding it.

What is searchable (`storage.knowledge_models.SearchDocument`, one row each):

- a ticket: its number and summary;
- a chat line (customer or engineer) on a ticket — closed tickets included;
- an archived solution (problem, process, attachments, test report).

In step on write: importing this module registers SQLAlchemy mapper events on
`Message`, `Ticket` and `SolutionRecord`, so every insert or change of the
indexed fields — a message stored, a ticket opened or summarised, a solution
archived, a text masked — rewrites its document in the same transaction,
whichever code path wrote it.  A customer line whose sender has been forgotten
(``anon:<id>``, `Customer.anonymise`) has no document: forgetting a customer
takes their words out of the index.  `rebuild` re-derives every document from
the tables (``aftersales search reindex``).

The database does the matching over the jieba-segmented `tokens`
(`storage.search_text`): an FTS5 table kept by triggers on SQLite, a GIN index
over ``to_tsvector('simple', tokens)`` on PostgreSQL (migration 0150).  Both are
outside the models; `is_search_internal` names them for schema comparisons.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, event, func, literal_column, select
from sqlalchemy.orm import Mapper

from storage.knowledge_models import SearchDocument, SolutionRecord
from storage.models import Message, MessageRole, Ticket
from storage.search_text import index_tokens

__all__ = [
    "FTS_TABLE",
    "PG_INDEX",
    "Hit",
    "is_search_internal",
    "rebuild",
    "search_statement",
    "solution_text",
]

FTS_TABLE = "search_documents_fts"
PG_INDEX = "ix_search_documents_tokens_tsv"
_SIMPLE = "'simple'::regconfig"
_DOCS: sa.Table = SearchDocument.__table__  # type: ignore[assignment]
_INDEXED_ROLES = {MessageRole.CUSTOMER, MessageRole.AGENT}


def is_search_internal(name: str | None) -> bool:
    """Whether a table or index is the database's own full-text machinery (not a model)."""
    return bool(name) and (str(name).startswith(FTS_TABLE) or name == PG_INDEX)


# -- documents from rows ----------------------------------------------------------------


def _message_document(message: Message) -> dict[str, Any] | None:
    if message.ticket_id is None or message.role not in _INDEXED_ROLES:
        return None
    if message.role is MessageRole.CUSTOMER and (message.sender or "").startswith("anon:"):
        return None  # a forgotten customer's line (its text is erased anyway)
    text = (message.text or "").strip()
    if not text:
        return None
    return {
        "kind": "message",
        "ref_id": message.id,
        "ticket_id": message.ticket_id,
        "body": text,
        "role": message.role.value,
        "at": message.sent_at,
    }


def _ticket_document(ticket: Ticket) -> dict[str, Any]:
    body = " ".join(part for part in (ticket.number, ticket.summary or "") if part)
    return {
        "kind": "ticket",
        "ref_id": ticket.id,
        "ticket_id": ticket.id,
        "body": body,
        "role": None,
        "at": ticket.opened_at,
    }


def solution_text(
    problem: str | None, process: str, attachments: Iterable[str], test_report: str
) -> str:
    """An archived solution as one text (what is indexed and shown)."""
    parts = [
        f"问题：{problem}" if problem else "",
        f"处理过程：{process}",
        f"测试报告：{test_report}",
        ("附件：" + "、".join(attachments)) if attachments else "",
    ]
    return "\n".join(part for part in parts if part)


def _solution_document(record: SolutionRecord) -> dict[str, Any] | None:
    if record.archived_at is None or record.duplicate_of_id is not None:
        return None
    body = solution_text(
        record.problem, record.process, record.attachments or [], record.test_report
    )
    return {
        "kind": "solution",
        "ref_id": record.ticket_id,
        "ticket_id": record.ticket_id,
        "body": body,
        "role": None,
        "at": record.archived_at,
    }


def _put(connection: Connection, kind: str, ref_id: int, document: dict[str, Any] | None) -> None:
    connection.execute(sa.delete(_DOCS).where(_DOCS.c.kind == kind, _DOCS.c.ref_id == ref_id))
    if document is not None:
        connection.execute(
            sa.insert(_DOCS).values(**document, tokens=index_tokens(document["body"]))
        )


def _changed(target: Any, *names: str) -> bool:
    state = sa.inspect(target)
    return any(state.attrs[name].history.has_changes() for name in names)


# -- keeping in step (mapper events) ----------------------------------------------------


@event.listens_for(Message, "after_insert")
def _message_inserted(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    document = _message_document(target)
    if document is not None:
        tokens = index_tokens(document["body"])
        connection.execute(sa.insert(_DOCS).values(**document, tokens=tokens))


@event.listens_for(Message, "after_update")
def _message_updated(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    if _changed(target, "text", "sender", "ticket_id", "role"):
        _put(connection, "message", target.id, _message_document(target))


@event.listens_for(Message, "after_delete")
def _message_deleted(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    _put(connection, "message", target.id, None)


@event.listens_for(Ticket, "after_insert")
def _ticket_inserted(_mapper: Mapper[Any], connection: Connection, target: Ticket) -> None:
    _put(connection, "ticket", target.id, _ticket_document(target))


@event.listens_for(Ticket, "after_update")
def _ticket_updated(_mapper: Mapper[Any], connection: Connection, target: Ticket) -> None:
    if _changed(target, "summary", "number"):
        _put(connection, "ticket", target.id, _ticket_document(target))


@event.listens_for(SolutionRecord, "after_insert")
@event.listens_for(SolutionRecord, "after_update")
def _solution_written(_mapper: Mapper[Any], connection: Connection, target: SolutionRecord) -> None:
    _put(connection, "solution", target.ticket_id, _solution_document(target))


# -- rebuilding ---------------------------------------------------------------------------


def rebuild(connection: Connection) -> int:
    """Every document re-derived from the tables (in the caller's transaction); how many."""
    connection.execute(sa.delete(_DOCS))
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal count
        if batch:
            connection.execute(sa.insert(_DOCS), batch)
            count += len(batch)
            batch.clear()

    def add(document: dict[str, Any] | None) -> None:
        if document is not None:
            batch.append({**document, "tokens": index_tokens(document["body"])})
            if len(batch) >= 500:
                flush()

    def rows(model: type[Any]) -> Iterable[Any]:
        # Plain attribute bags are enough for the document builders (no ORM session).
        table = model.__table__
        for row in connection.execute(select(table)).mappings():
            yield SimpleNamespace(**{column.key: row[column] for column in table.columns})

    for ticket in rows(Ticket):
        add(_ticket_document(ticket))
    for message in rows(Message):
        add(_message_document(message))
    for record in rows(SolutionRecord):
        add(_solution_document(record))
    flush()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return count


# -- querying -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """One matching document, best first."""

    kind: str
    ref_id: int
    ticket_id: int
    body: str
    role: str | None
    at: datetime | None
    score: float


def search_statement(
    dialect: str,
    words: Collection[str],
    *,
    any_word: bool = False,
    kinds: Collection[str] = (),
    engineer_id: int | None = None,
    exclude_ticket_id: int | None = None,
    limit: int = 50,
) -> sa.Select[Any] | None:
    """The query for documents matching every word (`any_word`: at least one), best first.

    `engineer_id`: an engineer's scope — tickets and chat lines of the tickets
    assigned to them, and every archived solution (the knowledge base is shared).
    None when there is nothing to look for.
    """
    words = [w for w in words if w]
    if not words:
        return None
    doc = SearchDocument
    if dialect == "sqlite":
        joiner = " OR " if any_word else " AND "
        expression = joiner.join(f'"{word}"' for word in words)
        fts = sa.table(FTS_TABLE, sa.column("rowid"))
        score: Any = literal_column(f"-bm25({FTS_TABLE})")
        statement = (
            select(doc, score.label("score"))
            .select_from(fts.join(doc, doc.id == fts.c.rowid))
            .where(sa.text(f"{FTS_TABLE} MATCH :match").bindparams(match=expression))
        )
    else:
        joiner = " | " if any_word else " & "
        expression = joiner.join(f"'{word}'" for word in words)
        vector = func.to_tsvector(literal_column(_SIMPLE), doc.tokens)
        query = func.to_tsquery(literal_column(_SIMPLE), expression)
        score = func.ts_rank(vector, query)
        statement = select(doc, score.label("score")).where(vector.op("@@")(query))
    if kinds:
        statement = statement.where(doc.kind.in_(list(kinds)))
    if engineer_id is not None:
        mine = select(Ticket.id).where(Ticket.assigned_engineer_id == engineer_id)
        statement = statement.where(sa.or_(doc.kind == "solution", doc.ticket_id.in_(mine)))
    if exclude_ticket_id is not None:
        statement = statement.where(doc.ticket_id != exclude_ticket_id)
    return statement.order_by(sa.desc("score"), doc.id.desc()).limit(limit)


def hits(rows: Iterable[Any]) -> list[Hit]:
    """The rows of `search_statement` as `Hit`s."""
    out = []
    for row in rows:
        document: SearchDocument = row[0]
        out.append(
            Hit(
                kind=document.kind,
                ref_id=document.ref_id,
                ticket_id=document.ticket_id,
                body=document.body,
                role=document.role,
                at=document.at,
                score=float(row[1] or 0.0),
            )
        )
    return out
