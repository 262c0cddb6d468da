"""Outbound lines name the customer message they answer (``messages.in_reply_to_id``).

A channel that redelivers a message (WeChat, after 5 s without an answer) must
get the same answer again, and WeChat's service-window count leaves out the
passive replies.  Both used to guess which lines answered a message (agent
lines stored within 10 s of it, before the customer's next one); the intake
now stores the link with each line it answers with.

Rows stored before this revision are linked by that same guess, for the last
48 hours only: older answers are past every redelivery and every service
window, so they keep NULL.

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-24 11:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

# How the lines answering a message were recognised before they were linked.
REPLY_WITHIN = timedelta(seconds=10)
BACKFILL_HOURS = 48

messages = sa.table(
    "messages",
    sa.column("id", sa.Integer),
    sa.column("ticket_id", sa.Integer),
    sa.column("role", sa.String(32)),
    sa.column("sent_at", sa.DateTime(timezone=True)),
    sa.column("in_reply_to_id", sa.Integer),
)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("in_reply_to_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_in_reply_to_id_messages", "messages", ["in_reply_to_id"], ["id"]
        )
        batch.create_index("ix_messages_in_reply_to_id", ["in_reply_to_id"])
    _link_recent_replies(op.get_bind())


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _link_recent_replies(connection: sa.Connection) -> None:
    cutoff = datetime.now(UTC) - timedelta(hours=BACKFILL_HOURS)
    asked = connection.execute(
        sa.select(messages.c.id, messages.c.ticket_id, messages.c.sent_at)
        .where(
            messages.c.role == "customer",
            messages.c.ticket_id.is_not(None),
            messages.c.sent_at >= cutoff,
        )
        .order_by(messages.c.id)
    ).all()
    links: list[dict[str, int]] = []
    for question in asked:
        answered_by = _aware(question.sent_at) + REPLY_WITHIN
        following = connection.execute(
            sa.select(messages.c.id, messages.c.role, messages.c.sent_at)
            .where(messages.c.ticket_id == question.ticket_id, messages.c.id > question.id)
            .order_by(messages.c.id)
            .limit(10)
        ).all()
        for line in following:
            if line.role == "customer" or _aware(line.sent_at) > answered_by:
                break
            if line.role == "agent":
                links.append({"row_id": line.id, "question": question.id})
    if links:
        connection.execute(
            messages.update()
            .where(messages.c.id == sa.bindparam("row_id"))
            .values(in_reply_to_id=sa.bindparam("question")),
            links,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_in_reply_to_id")
        batch.drop_constraint("fk_messages_in_reply_to_id_messages", type_="foreignkey")
        batch.drop_column("in_reply_to_id")
