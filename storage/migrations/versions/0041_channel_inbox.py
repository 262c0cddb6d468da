"""The 公众号's intake journal (`channel_inbox`): a message is stored before WeChat is
answered, even when the ticket work behind it runs past the reply budget.

Revision ID: 0041
Revises: 0040
Create Date: 2026-11-24 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_inbox")),
        sa.UniqueConstraint(
            "channel", "external_id", name=op.f("uq_channel_inbox_channel_external_id")
        ),
    )
    op.create_index(op.f("ix_channel_inbox_received_at"), "channel_inbox", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_channel_inbox_received_at"), table_name="channel_inbox")
    op.drop_table("channel_inbox")
