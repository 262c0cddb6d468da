"""Why an engineer sent a line despite a pre-send warning, for QA.

The reason is stored on the line (``messages.override_reason``) and recorded as
``presend_override``; the QA session page shows it under the line and the XLSX
export puts it beside the findings on that line (确认发送原因).  Stored sessions'
lines carry their message row id (``Line.line_no`` with source ``db:messages``),
which is how a reason finds its line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Engine, select

from storage.models import Message, Ticket


def override_reasons(engine: Engine, sessions: Iterable[str]) -> Mapping[int, str]:
    """Message row id → the override reason, for the lines of these sessions (tickets)."""
    numbers = sorted(set(sessions))
    found: dict[int, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(numbers), 500):
            rows = conn.execute(
                select(Message.id, Message.override_reason)
                .join(Ticket, Message.ticket_id == Ticket.id)
                .where(
                    Ticket.number.in_(numbers[start : start + 500]),
                    Message.override_reason.is_not(None),
                )
            )
            found.update({int(row[0]): str(row[1]) for row in rows})
    return found
