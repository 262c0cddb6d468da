"""WeCom kf cursors keep the moment the account was connected (`kf_cursors.connected_at`).

A new cursor starts at that moment: `sync_msg` without a cursor returns the
last three days, and what came before the bot was connected (other people
already handled it) must open no ticket and greet nobody.  Rows that exist
already are backfilled with their first notice (or last update): they were
connected then.

Revision ID: 0040
Revises: 0011
Create Date: 2026-11-24 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kf_cursors") as batch:
        batch.add_column(sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE kf_cursors SET connected_at = COALESCE(notified_at, updated_at)"
        " WHERE connected_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("kf_cursors") as batch:
        batch.drop_column("connected_at")
