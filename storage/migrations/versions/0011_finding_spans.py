"""Findings keep their span: where in the line the evidence is (start, end).

Without it the console found the highlight again by searching the evidence in the
line, which marks the first occurrence when a word appears twice.  Rows saved
before this revision keep NULL and the console still searches for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("span_start", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("span_end", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("span_end")
        batch.drop_column("span_start")
