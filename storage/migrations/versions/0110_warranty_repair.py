"""After the chat: warranty facts, sales contracts, quotes, repair jobs, replacement units.

Revision ID: 0110
Revises: 0042
Create Date: 2026-12-04 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0110"
down_revision = "0101"
branch_labels = None
depends_on = None


def _aware() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sales_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _aware(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_sales_contracts_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_contracts")),
        sa.UniqueConstraint("number", name=op.f("uq_sales_contracts_number")),
    )
    op.create_index(
        op.f("ix_sales_contracts_customer_id"), "sales_contracts", ["customer_id"], unique=False
    )
    op.create_table(
        "ticket_warranties",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("serial_no", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("signed_for", sa.Date(), nullable=True),
        sa.Column("proof_message_id", sa.Integer(), nullable=True),
        sa.Column("proof_reference", sa.String(length=128), nullable=True),
        sa.Column("part", sa.String(length=128), nullable=True),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("covered_until", sa.Date(), nullable=True),
        sa.Column("exclusions", sa.JSON(), nullable=False),
        sa.Column("assessed_by", sa.String(length=64), nullable=False),
        sa.Column("assessed_at", _aware(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["sales_contracts.id"],
            name=op.f("fk_ticket_warranties_contract_id_sales_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["proof_message_id"],
            ["messages.id"],
            name=op.f("fk_ticket_warranties_proof_message_id_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_warranties_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_warranties")),
    )
    op.create_table(
        "repair_quotes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("quoted_by", sa.String(length=64), nullable=False),
        sa.Column("quoted_at", _aware(), nullable=False),
        sa.Column("quote_message_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("confirmed_at", _aware(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=128), nullable=True),
        sa.Column("confirmation_source", sa.String(length=16), nullable=True),
        sa.Column("confirmation_message_id", sa.Integer(), nullable=True),
        sa.Column("confirmation_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmation_message_id"],
            ["messages.id"],
            name=op.f("fk_repair_quotes_confirmation_message_id_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["quote_message_id"],
            ["messages.id"],
            name=op.f("fk_repair_quotes_quote_message_id_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_repair_quotes_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_quotes")),
    )
    op.create_index(op.f("ix_repair_quotes_ticket_id"), "repair_quotes", ["ticket_id"])
    op.create_table(
        "repair_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("started_at", _aware(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("latest_on", sa.Date(), nullable=True),
        sa.Column("promised_on", sa.Date(), nullable=True),
        sa.Column("finished_at", _aware(), nullable=True),
        sa.Column("old_parts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_repair_jobs_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_jobs")),
    )
    op.create_index(op.f("ix_repair_jobs_ticket_id"), "repair_jobs", ["ticket_id"])
    op.create_table(
        "loaner_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("serial_no", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("sent_by", sa.String(length=64), nullable=False),
        sa.Column("sent_at", _aware(), nullable=False),
        sa.Column("returned_at", _aware(), nullable=True),
        sa.Column("returned_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_loaner_units_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loaner_units")),
    )
    op.create_index(op.f("ix_loaner_units_ticket_id"), "loaner_units", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_loaner_units_ticket_id"), table_name="loaner_units")
    op.drop_table("loaner_units")
    op.drop_index(op.f("ix_repair_jobs_ticket_id"), table_name="repair_jobs")
    op.drop_table("repair_jobs")
    op.drop_index(op.f("ix_repair_quotes_ticket_id"), table_name="repair_quotes")
    op.drop_table("repair_quotes")
    op.drop_table("ticket_warranties")
    op.drop_index(op.f("ix_sales_contracts_customer_id"), table_name="sales_contracts")
    op.drop_table("sales_contracts")
