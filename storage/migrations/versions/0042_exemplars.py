"""Exemplars QA's marks teach the detectors; findings keep their layer and confidence.

A finding QA confirms becomes a positive exemplar of its detector, one marked false
positive a negative one (`storage.models.Exemplar`).  Findings record which detector
layer caught them (phrase / operator / similarity) and how sure it was; rows saved
before this revision keep NULL.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("layer", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("confidence", sa.Float(), nullable=True))
    op.create_table(
        "exemplars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("polarity", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=True),
        sa.Column("session", sa.String(length=128), nullable=True),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_exemplars_finding_id_findings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemplars")),
    )
    op.create_index(op.f("ix_exemplars_detector"), "exemplars", ["detector"], unique=False)
    op.create_index(op.f("ix_exemplars_finding_id"), "exemplars", ["finding_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_exemplars_finding_id"), table_name="exemplars")
    op.drop_index(op.f("ix_exemplars_detector"), table_name="exemplars")
    op.drop_table("exemplars")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("confidence")
        batch.drop_column("layer")
