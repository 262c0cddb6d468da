"""Sign-in throttling: failed attempts per account and per client address.

One row per throttled key (``account:<username>`` or ``address:<ip>``), shared
by every `serve` process on the database, so a lockout holds whichever process
answers the next attempt.

Revision ID: 0100
Revises: 0042
Create Date: 2026-12-04 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_throttles",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_signin_throttles")),
    )


def downgrade() -> None:
    op.drop_table("signin_throttles")
