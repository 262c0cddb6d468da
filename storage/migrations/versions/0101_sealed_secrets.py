"""Secrets at rest are sealed: bridge keys, channel access tokens, the console key.

Widens the two bounded secret columns to TEXT (a Fernet token is about 1.4 times
the secret plus 57 bytes) and seals every plain value with the key derived from
``AFTERSALES_SECRET_KEY`` (`storage.sealing`).  Without the key nothing is sealed
here; the first start with a key seals what is left.  The downgrade opens sealed
values again (it needs the key) and narrows the columns back.

Revision ID: 0101
Revises: 0100
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context, op

from storage.sealing import SECRET_ENV, SecretBox, seal_stored, unseal_stored

revision = "0101"
down_revision = "0100"
branch_labels = None
depends_on = None


def _box() -> SecretBox:
    # `storage.migrate` hands the serve process's key over; the alembic command
    # line reads the environment.
    key = context.config.attributes.get("secret_key") or os.environ.get(SECRET_ENV, "")
    return SecretBox(key.strip() or None)


def upgrade() -> None:
    with op.batch_alter_table("bridge_keys") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_type=sa.String(length=256))
    with op.batch_alter_table("console_secrets") as batch:
        batch.alter_column("value", type_=sa.Text(), existing_type=sa.String(length=255))
    seal_stored(op.get_bind(), _box())


def downgrade() -> None:
    unseal_stored(op.get_bind(), _box())
    with op.batch_alter_table("console_secrets") as batch:
        batch.alter_column("value", type_=sa.String(length=255), existing_type=sa.Text())
    with op.batch_alter_table("bridge_keys") as batch:
        batch.alter_column("secret", type_=sa.String(length=256), existing_type=sa.Text())
