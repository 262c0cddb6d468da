"""The knowledge base and full-text search: solution records, search documents, the index.

`solution_records` holds what closing a ticket must leave (process, attachments,
test report) and its archive state; `search_documents` the searchable texts with
their jieba-segmented tokens.  The full-text index itself is the database's own:
an FTS5 table over `tokens` kept in step by triggers on SQLite, a GIN index over
``to_tsvector('simple', tokens)`` on PostgreSQL.  Existing rows are not indexed
here: run ``aftersales search reindex`` once after upgrading.

Revision ID: 0150
Revises: 0140
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0150"
down_revision = "0140"
branch_labels = None
depends_on = None

FTS = "search_documents_fts"
PG_INDEX = "ix_search_documents_tokens_tsv"
SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE {FTS} USING fts5("
    "tokens, content='search_documents', content_rowid='id', tokenize='unicode61')",
    f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON search_documents BEGIN "
    f"INSERT INTO {FTS}(rowid, tokens) VALUES (new.id, new.tokens); END",
    f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON search_documents BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, tokens) VALUES ('delete', old.id, old.tokens); END",
    f"CREATE TRIGGER {FTS}_au AFTER UPDATE ON search_documents BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, tokens) VALUES ('delete', old.id, old.tokens); "
    f"INSERT INTO {FTS}(rowid, tokens) VALUES (new.id, new.tokens); END",
)


def upgrade() -> None:
    op.create_table(
        "solution_records",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("test_report", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_by", sa.String(length=64), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_solution_records_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["tickets.id"],
            name=op.f("fk_solution_records_duplicate_of_id_tickets"),
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_solution_records")),
    )
    op.create_table(
        "search_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_search_documents_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("kind", "ref_id", name=op.f("uq_search_documents_kind_ref_id")),
    )
    op.create_index(
        op.f("ix_search_documents_ticket_id"), "search_documents", ["ticket_id"], unique=False
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_DDL:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(
            f"CREATE INDEX {PG_INDEX} ON search_documents "
            "USING gin (to_tsvector('simple'::regconfig, tokens))"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
    op.drop_index(op.f("ix_search_documents_ticket_id"), table_name="search_documents")
    op.drop_table("search_documents")
    op.drop_table("solution_records")
