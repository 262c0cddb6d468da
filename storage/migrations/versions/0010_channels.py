"""Channel tables (`storage.channel_models`): WeCom kf cursors, bridge keys, nonces, events, commands.

Revision ID: 0010
Revises: 0002
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kf_cursors",
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=128), nullable=True),
        sa.Column("pending_token", sa.String(length=256), nullable=True),
        sa.Column("pending_seq", sa.Integer(), nullable=False),
        sa.Column("synced_seq", sa.Integer(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("open_kfid", name=op.f("pk_kf_cursors")),
    )
    op.create_table(
        "bridge_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=256), nullable=False),
        sa.Column("shops", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_bridge_keys")),
    )
    op.create_table(
        "bridge_nonces",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_bridge_nonces")),
    )
    op.create_index(op.f("ix_bridge_nonces_expires_at"), "bridge_nonces", ["expires_at"])
    op.create_table(
        "bridge_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("buyer_uid", sa.String(length=64), nullable=False),
        sa.Column("customer_key", sa.String(length=128), nullable=False),
        sa.Column("sender_role", sa.String(length=16), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("platform_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bridge_events")),
        sa.UniqueConstraint("channel", "event_id", name=op.f("uq_bridge_events_channel_event_id")),
    )
    op.create_index(
        op.f("ix_bridge_events_channel_customer_key_id"),
        "bridge_events",
        ["channel", "customer_key", "id"],
    )
    op.create_table(
        "bridge_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("buyer_uid", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "delivered",
                "submitted",
                "confirmed",
                "unknown",
                "rejected",
                name="bridge_command_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_detail", sa.Text(), nullable=True),
        sa.Column("platform_msg_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_bridge_commands_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bridge_commands")),
        sa.UniqueConstraint("message_id", name=op.f("uq_bridge_commands_message_id")),
    )
    op.create_index(
        op.f("ix_bridge_commands_status_shop_id"), "bridge_commands", ["status", "shop_id"]
    )


def downgrade() -> None:
    op.drop_table("bridge_commands")
    op.drop_table("bridge_events")
    op.drop_table("bridge_nonces")
    op.drop_table("bridge_keys")
    op.drop_table("kf_cursors")
