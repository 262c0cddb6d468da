"""Internal ticket steps get their own event kinds instead of notes with data["kind"].

The bot kept nineteen of its steps (classified, assigned, draft_suggested …) as
``note`` events with the step's name in ``data["kind"]``.  `EventKind` now has a
member for each, so those rows become rows of that kind and lose the ``kind``
key; a note with any other or no ``kind`` stays a note.

``ticket_events.event`` is a VARCHAR(32) holding the enum's value on both
databases (no native enum type, no CHECK constraint), so only rows change.
Downgrade puts the notes back, ``kind`` first, as they were written.

Revision ID: 0030
Revises: 0011
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0011"
branch_labels = None
depends_on = None

# The values of the members this revision gave the steps (never change them).
KINDS: tuple[str, ...] = (
    "classified",
    "assigned",
    "backup_not_confirmed",
    "suggestion_requested",
    "suggestion_declined",
    "suggestion_recorded",
    "survey_sent",
    "draft_suggested",
    "presend_override",
    "stable_run_started",
    "stable_run_elapsed",
    "rma_started",
    "rma_returned",
    "onsite_scheduled",
    "warranty_assessed",
    "archived",
    "archive_skipped_duplicate",
    "delivery_problem",
    "extension_requested",
)
NOTE = "note"
BATCH = 1000

events = sa.table(
    "ticket_events",
    sa.column("id", sa.Integer),
    sa.column("event", sa.String(32)),
    sa.column("data", sa.JSON),
)


def _batches(connection: sa.Connection, where: Any) -> Iterator[Sequence[Any]]:
    """The matching rows in id order, `BATCH` at a time (a large journal stays in bounds)."""
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.id, events.c.event, events.c.data)
            .where(where, events.c.id > last)
            .order_by(events.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _rewrite(connection: sa.Connection, changes: list[dict[str, Any]]) -> None:
    if changes:
        connection.execute(
            events.update()
            .where(events.c.id == sa.bindparam("row_id"))
            .values(event=sa.bindparam("new_event"), data=sa.bindparam("new_data")),
            changes,
        )


def upgrade() -> None:
    connection = op.get_bind()
    for rows in _batches(connection, events.c.event == NOTE):
        changes = []
        for row in rows:
            data = row.data if isinstance(row.data, dict) else {}
            kind = data.get("kind")
            if kind in KINDS:
                rest = {key: value for key, value in data.items() if key != "kind"}
                changes.append({"row_id": row.id, "new_event": kind, "new_data": rest})
        _rewrite(connection, changes)


def downgrade() -> None:
    connection = op.get_bind()
    for rows in _batches(connection, events.c.event.in_(KINDS)):
        changes = [
            {
                "row_id": row.id,
                "new_event": NOTE,
                "new_data": {"kind": row.event, **(row.data or {})},
            }
            for row in rows
        ]
        _rewrite(connection, changes)
