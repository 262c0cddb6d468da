"""Delivery: the on-site visit, the checklists ticked, how far reminders were read.

Revision ID: 0140
Revises: 0130
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0140"
down_revision = "0130"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onsite_visits",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("distance_km", sa.Float(), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("agreed", sa.Boolean(), nullable=False),
        sa.Column("planned_by", sa.String(length=64), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reschedules", sa.Integer(), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrived_by", sa.String(length=64), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_onsite_visits_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_onsite_visits")),
    )
    op.create_table(
        "checklist_ticks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("checklist", sa.String(length=16), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("ticked_by", sa.String(length=64), nullable=False),
        sa.Column("ticked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_checklist_ticks_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_ticks")),
        sa.UniqueConstraint(
            "ticket_id",
            "checklist",
            "item",
            name=op.f("uq_checklist_ticks_ticket_id_checklist_item"),
        ),
    )
    op.create_index(
        op.f("ix_checklist_ticks_ticket_id"), "checklist_ticks", ["ticket_id"], unique=False
    )
    op.create_table(
        "reminder_reads",
        sa.Column("staff_no", sa.String(length=64), nullable=False),
        sa.Column("seen_event_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("staff_no", name=op.f("pk_reminder_reads")),
    )


def downgrade() -> None:
    op.drop_table("reminder_reads")
    op.drop_index(op.f("ix_checklist_ticks_ticket_id"), table_name="checklist_ticks")
    op.drop_table("checklist_ticks")
    op.drop_table("onsite_visits")
