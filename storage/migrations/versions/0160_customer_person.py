"""One customer across channels: customers.person_id links a channel identity to the
first row of the same person (by phone number or an engineer's link); issue 17.3.

Revision ID: 0160
Revises: 0150
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0160"
down_revision = "0150"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_customers_person_id_customers"), "customers", ["person_id"], ["id"]
        )
        batch.create_index(batch.f("ix_customers_person_id"), ["person_id"], unique=False)
    # Looking a person up by phone number (the link) must not scan every customer.
    op.create_index(op.f("ix_customers_phone"), "customers", ["phone"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_customers_phone"), table_name="customers")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index(batch.f("ix_customers_person_id"))
        batch.drop_constraint(batch.f("fk_customers_person_id_customers"), type_="foreignkey")
        batch.drop_column("person_id")
