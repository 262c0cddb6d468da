"""On-call duty (seed 003): the monthly rota, calls and visits on tickets, hand-overs.

Revision ID: 0130
Revises: 0042
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0130"
down_revision = "0110"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_rota",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("engineer_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["engineer_id"], ["engineers.id"], name=op.f("fk_duty_rota_engineer_id_engineers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_rota")),
        sa.UniqueConstraint("month", name=op.f("uq_duty_rota_month")),
    )
    op.create_index(op.f("ix_duty_rota_engineer_id"), "duty_rota", ["engineer_id"], unique=False)
    op.create_table(
        "contact_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("engineer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["engineer_id"],
            ["engineers.id"],
            name=op.f("fk_contact_records_engineer_id_engineers"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_contact_records_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_records")),
    )
    op.create_index(op.f("ix_contact_records_at"), "contact_records", ["at"], unique=False)
    op.create_index(
        op.f("ix_contact_records_ticket_id"), "contact_records", ["ticket_id"], unique=False
    )
    op.create_table(
        "duty_handovers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("from_engineer_id", sa.Integer(), nullable=False),
        sa.Column("to_engineer_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by", sa.String(length=32), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_engineer_id"],
            ["engineers.id"],
            name=op.f("fk_duty_handovers_from_engineer_id_engineers"),
        ),
        sa.ForeignKeyConstraint(
            ["to_engineer_id"],
            ["engineers.id"],
            name=op.f("fk_duty_handovers_to_engineer_id_engineers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_handovers")),
        sa.UniqueConstraint("month", name=op.f("uq_duty_handovers_month")),
    )


def downgrade() -> None:
    op.drop_table("duty_handovers")
    op.drop_index(op.f("ix_contact_records_ticket_id"), table_name="contact_records")
    op.drop_index(op.f("ix_contact_records_at"), table_name="contact_records")
    op.drop_table("contact_records")
    op.drop_index(op.f("ix_duty_rota_engineer_id"), table_name="duty_rota")
    op.drop_table("duty_rota")
