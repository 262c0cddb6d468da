"""Stored tickets as transcripts, and check runs saved back (``check --db`` / ``--save``).

A ticket is a session (its number is the session id); its messages become
customer and agent lines (an agent line's sender is the engineer's 工号, its name
the stored sender name), its SPEC §4 events become event lines, with the rating
of ``satisfaction_rated`` taken from the event's data, and ``ticket_opened`` carrying
the ticket's fault level as it stands (an engineer's change included).  The records go through
the same `TranscriptBuilder` as file lines, so a bad stored row is reported the
same way, naming its table and id (``db:messages:17: an agent line needs field
'sender' (the engineer's 工号)``), and the rules judge a stored conversation
exactly as they would the exported file.

Only this module (and only for ``--db`` / ``--save``) touches `storage`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as DbSession

from compliance.calendar import SHANGHAI
from compliance.model import FAULT_LEVEL_ALIASES, Finding, Session, TranscriptError
from compliance.scoring import FindingKey
from compliance.transcript import TranscriptBuilder
from storage.models import (
    SPEC_EVENTS,
    CheckRun,
    Engineer,
    Message,
    MessageRole,
    QaReview,
    Ticket,
    TicketEvent,
    Verdict,
)
from storage.models import Finding as FindingRow

__all__ = [
    "StoredSessions",
    "describe_url",
    "has_schema",
    "load_false_positives",
    "load_sessions",
    "save_run",
]

# What a non-text message shows in the transcript (the checker reads text only).
_KIND_TEXT = {
    "image": "[图片]",
    "voice": "[语音]",
    "video": "[视频]",
    "shortvideo": "[视频]",
    "file": "[文件]",
    "location": "[位置]",
    "link": "[链接]",
}
_ROLES = {MessageRole.CUSTOMER.value: "customer", MessageRole.AGENT.value: "agent"}
_SPEC_EVENT_VALUES = frozenset(event.value for event in SPEC_EVENTS)
_BATCH = 2000
# Columns of `findings` that are bounded strings; longer values are cut, not refused.
_SOURCE_MAX = 64


def describe_url(url: str) -> str:
    """The URL with its password hidden, for messages and the run's source."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by make_engine; just echo it
        return url


def has_schema(engine: Engine) -> bool:
    """Whether the database has the product's tables (it was migrated)."""
    return inspect(engine).has_table(Ticket.__tablename__)


@dataclass(slots=True)
class StoredSessions:
    """Sessions read from the database, and the stored rows that could not be used."""

    sessions: list[Session]
    errors: list[TranscriptError]
    assigned: dict[str, str]
    """Session id -> 工号 of the engineer the ticket is assigned to."""
    tickets: int


def local_day_bounds(
    since: date | None, until: date | None
) -> tuple[datetime | None, datetime | None]:
    """UTC bounds of the Asia/Shanghai days `since` .. `until` (both inclusive)."""
    start = datetime.combine(since, time(), SHANGHAI).astimezone(UTC) if since else None
    end = (
        datetime.combine(until + timedelta(days=1), time(), SHANGHAI).astimezone(UTC)
        if until
        else None
    )
    return start, end


def _message_text(message: Message) -> str:
    if message.text:
        return message.text
    return _KIND_TEXT.get(message.kind, f"[{message.kind}]") if message.kind != "text" else ""


def _message_record(number: str, message: Message) -> dict[str, Any] | None:
    role = _ROLES.get(str(message.role))
    if role is None:
        return None  # channel events and system notes are not conversation lines
    record: dict[str, Any] = {
        "session": number,
        "channel": message.channel,
        "ts": message.sent_at.isoformat(),
        "role": role,
        "sender": message.sender,
        "text": _message_text(message),
    }
    if role == "agent" and message.sender_name:
        record["name"] = message.sender_name
    return record


def _event_record(number: str, channel: str, event: TicketEvent) -> dict[str, Any] | None:
    kind = str(event.event)
    if kind not in _SPEC_EVENT_VALUES:
        return None  # internal bookkeeping (reminders, notes) is not part of the transcript
    record: dict[str, Any] = {
        "session": number,
        "channel": channel,
        "ts": event.at.isoformat(),
        "role": "event",
        "event": kind,
    }
    if event.actor:
        record["sender"] = event.actor
    data = event.data or {}
    if kind == "satisfaction_rated" and "rating" in data:
        record["rating"] = data["rating"]
    return record


def _in_range(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


def load_sessions(
    engine: Engine, *, since: date | None = None, until: date | None = None
) -> StoredSessions:
    """The tickets opened between `since` and `until` (Asia/Shanghai dates, inclusive).

    Messages not attached to a ticket are not part of any session and are left out.
    """
    start, end = local_day_bounds(since, until)
    builder = TranscriptBuilder()
    assigned: dict[str, str] = {}
    tickets = 0
    with DbSession(engine) as db:
        ticket_rows = db.execute(
            select(Ticket.id, Ticket.number, Ticket.channel, Engineer.staff_no, Ticket.fault_level)
            .outerjoin(Engineer, Ticket.assigned_engineer_id == Engineer.id)
            .where(*_in_range(Ticket.opened_at, start, end))
            .order_by(Ticket.opened_at, Ticket.id)
        ).all()
        numbers: dict[int, tuple[str, str]] = {}
        levels: dict[int, str] = {}
        for ticket_id, number, channel, staff_no, level in ticket_rows:
            numbers[ticket_id] = (number, channel)
            if level in FAULT_LEVEL_ALIASES:
                levels[ticket_id] = FAULT_LEVEL_ALIASES[level]
            if staff_no:
                assigned[number] = staff_no
        tickets = len(numbers)
        # Two streamed queries over the same range instead of one per ticket.
        messages = db.scalars(
            select(Message)
            .join(Ticket, Message.ticket_id == Ticket.id)
            .where(*_in_range(Ticket.opened_at, start, end))
            .order_by(Message.ticket_id, Message.sent_at, Message.id)
            .execution_options(yield_per=_BATCH)
        )
        for message in messages:
            if message.ticket_id is None or message.ticket_id not in numbers:
                continue
            number, _channel = numbers[message.ticket_id]
            record = _message_record(number, message)
            if record is not None:
                builder.add(record, "db:messages", message.id)
        events = db.scalars(
            select(TicketEvent)
            .join(Ticket, TicketEvent.ticket_id == Ticket.id)
            .where(*_in_range(Ticket.opened_at, start, end))
            .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)
            .execution_options(yield_per=_BATCH)
        )
        for event in events:
            if event.ticket_id not in numbers:
                continue
            number, channel = numbers[event.ticket_id]
            record = _event_record(number, channel, event)
            # ticket_opened carries the level the ticket has now (an engineer's change).
            level = levels.get(event.ticket_id)
            if record is not None and record["event"] == "ticket_opened" and level:
                record["fault_level"] = level
            if record is not None:
                builder.add(record, "db:ticket_events", event.id)
    read = builder.finish()
    return StoredSessions(read.sessions, read.errors, assigned, tickets)


def load_false_positives(engine: Engine, sessions: Collection[str]) -> frozenset[FindingKey]:
    """Keys of the findings on `sessions` whose latest QA verdict is false positive.

    A verdict applies to the finding it was given on and to the same finding
    (session, rule, position, evidence) in any later run.
    """
    if not sessions:
        return frozenset()
    wanted = set(sessions)
    latest: dict[FindingKey, tuple[datetime, int, str]] = {}
    with DbSession(engine) as db:
        rows = db.execute(
            select(
                FindingRow.session,
                FindingRow.rule,
                FindingRow.index,
                FindingRow.evidence,
                QaReview.created_at,
                QaReview.id,
                QaReview.verdict,
            ).join(QaReview, QaReview.finding_id == FindingRow.id)
        )
        for session, rule, index, evidence, created_at, review_id, verdict in rows:
            if session not in wanted:
                continue
            key: FindingKey = (session, rule, index, evidence)
            stamp = (created_at, review_id, str(verdict))
            if key not in latest or stamp[:2] > latest[key][:2]:
                latest[key] = stamp
    return frozenset(
        key for key, (_at, _id, verdict) in latest.items() if verdict == Verdict.FALSE_POSITIVE
    )


def _finding_rows(run_id: int, findings: Iterable[Finding]) -> Iterator[dict[str, Any]]:
    for finding in findings:
        yield {
            "check_run_id": run_id,
            "session": finding.session,
            "rule": finding.rule,
            "severity": finding.severity,
            "ts": finding.ts,
            "index": finding.index,
            "agent": finding.agent,
            "message": finding.message,
            "evidence": finding.evidence,
            "span_start": finding.span[0] if finding.span else None,
            "span_end": finding.span[1] if finding.span else None,
            "suggestion": finding.suggestion,
            "source": finding.source[:_SOURCE_MAX] if finding.source else None,
            "inferred": finding.inferred,
            "score": finding.score,
            "layer": finding.layer,
            "confidence": finding.confidence,
        }


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def save_run(
    engine: Engine,
    findings: Sequence[Finding],
    *,
    source: str,
    policy_name: str,
    parameters: Mapping[str, Any],
    sessions_checked: int,
    started_at: datetime,
    finished_at: datetime | None = None,
) -> int:
    """Store one check run and its findings (unmasked: the database holds the texts anyway).

    Returns the new run's id.  One transaction: either the run and all its
    findings are stored, or nothing is.
    """
    with DbSession(engine) as db, db.begin():
        run = CheckRun(
            started_at=started_at,
            finished_at=finished_at or datetime.now(UTC),
            source=source,
            policy_name=policy_name[:128],
            parameters=dict(parameters),
            sessions_checked=sessions_checked,
            findings_count=len(findings),
        )
        db.add(run)
        db.flush()
        run_id = run.id
        for batch in _batches(_finding_rows(run_id, findings), _BATCH):
            db.execute(insert(FindingRow), batch)
    return run_id
