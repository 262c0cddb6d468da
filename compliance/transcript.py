"""Validating transcript records (SPEC §4) and assembling them into `Session`s.

`TranscriptBuilder` takes one record at a time (a parsed JSON line, or a stored
message or ticket event from the database adapter) and checks every field; a bad
one becomes a `TranscriptError` ("FILE:LINE: what is wrong") and the work goes on,
so one run reports every bad line and the caller decides what to do (the ``check``
command exits 2 and presents no report as complete).  Nothing is dropped silently:
a record is either in a session or in the errors.  `sessions_from_records` is the
short way to use it; reading files is `compliance.reader`'s.

Records are grouped by ``session``; within a session they are ordered by ``ts``,
then by the order they were read (file order, files in the order given); ``index``
is the 0-based position after that ordering.  A naive ``ts`` is Asia/Shanghai
time.  ``channel`` may be left out after a session's first line: such a line
inherits the channel of the line read before it in the same session.

Several builders may each read a part of the input (`compliance.reader.ReadPlan`);
a session with lines in several parts is handed to the first of them
(`TranscriptBuilder.hand_over` and `take_over`).

This is the hot path of a large check (a million lines): a dictionary lookup per
field, no per-line objects but one tuple until the session is complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from compliance.calendar import SHANGHAI
from compliance.model import (
    EVENTS,
    FAULT_LEVEL_ALIASES,
    FAULT_LEVEL_LABELS,
    FIRST_YEAR,
    LAST_YEAR,
    ROLES,
    SATISFACTION_LABELS,
    Line,
    Session,
    TranscriptError,
)
from compliance.policy import CHANNELS

__all__ = [
    "HandOver",
    "TranscriptBuilder",
    "TranscriptRead",
    "sessions_from_records",
]

_CHANNEL_NAMES = {name: name for name in CHANNELS}
_EVENT_NAMES = {name: name for name in EVENTS}
_ROLE_NAMES = {name: name for name in ROLES}
_RATING_NAMES = {name: name for name in SATISFACTION_LABELS}
_KNOWN_ROLES = ", ".join(sorted(ROLES))
_KNOWN_CHANNELS = ", ".join(CHANNELS)
_KNOWN_EVENTS = ", ".join(sorted(EVENTS))
_KNOWN_RATINGS = " / ".join(SATISFACTION_LABELS)
_KNOWN_FAULT_LEVELS = ", ".join(FAULT_LEVEL_LABELS)

HandOver = dict[str, tuple[list[tuple[Any, ...]], str | None, bool]]
"""Sessions one reader hands to another (`TranscriptBuilder.hand_over`): per session,
its rows in reading order, the channel of its last line, and whether a line among
them came before the session named a channel."""

# Fields of a pending row, before the session is ordered and Lines are built.
_TS, _ROLE, _CHANNEL, _SENDER, _NAME, _TEXT, _EVENT, _RATING, _SOURCE, _LINE_NO, _LEVEL = range(11)


@dataclass(slots=True)
class TranscriptRead:
    """What reading gave: the sessions (in order of first appearance) and the bad lines."""

    sessions: list[Session]
    errors: list[TranscriptError]
    files: list[str] = field(default_factory=list)
    lines: int = 0
    """Lines (records) read, good and bad; blank lines are not counted."""
    first_seen: list[int] = field(default_factory=list)
    """Per session: the reading position of its first line (see `TranscriptBuilder.skip`)."""
    error_keys: list[tuple[int, int]] = field(default_factory=list)
    """Per error: a key that sorts errors of several partial reads into reading order."""

    @property
    def ok(self) -> bool:
        return not self.errors


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "true/false"}.get(
        type(value), "a number"
    )


class TranscriptBuilder:
    """Validates records one by one and assembles them into sessions.

    `add` never raises on bad input: it records a `TranscriptError` and returns
    False.  `finish` orders every session and returns the result.
    """

    def __init__(self, first_position: int = 0) -> None:
        self._rows: dict[str, list[tuple[Any, ...]]] = {}
        # Per session, the reading position of its first line (rows keep reading
        # order until `finish` sorts them, so only the first one needs one).
        self._first_seq: dict[str, int] = {}
        self._errors: list[TranscriptError] = []
        self._error_keys: list[tuple[int, int]] = []
        self._seq = first_position
        # Per session, the channel of its last line read so far (the next line
        # without one inherits it).
        self._channels: dict[str, str] = {}
        # Sessions with a line read before any of theirs named a channel: `finish`
        # gives those lines the channel they inherit.
        self._unresolved: set[str] = set()
        self._strings: dict[str, str] = {}
        self.files: list[str] = []
        self.lines = 0

    def error(self, path: str, line_no: int | None, problem: str) -> None:
        """Record what is wrong with a line (or a whole file, `line_no` None); it
        takes a reading position like a record does."""
        self._seq += 1
        self._errors.append(TranscriptError(path, line_no, problem))
        self._error_keys.append((0, self._seq))

    def session_ids(self) -> list[str]:
        """The sessions read so far, in order of first appearance."""
        return list(self._rows)

    def hand_over(self, give: Mapping[str, int]) -> dict[int, HandOver]:
        """Take out the sessions `give` names (`owners`: session -> the part that read
        its first lines), grouped by the part each goes to (reading in parts)."""
        handed: dict[int, HandOver] = {}
        for session_id, owner in give.items():
            rows = self._rows.pop(session_id)
            del self._first_seq[session_id]
            unresolved = session_id in self._unresolved
            self._unresolved.discard(session_id)
            channel = self._channels.pop(session_id, None)
            handed.setdefault(owner, {})[session_id] = (rows, channel, unresolved)
        return handed

    def take_over(self, handed: HandOver) -> None:
        """Add sessions another builder read on from here (its `hand_over`): their
        lines come after the ones read here.  Take parts over in reading order."""
        for session_id, (rows, channel, unresolved) in handed.items():
            self._rows[session_id].extend(rows)
            if unresolved:
                # Lines there before the session named a channel there: they
                # inherit from the lines here (or, if none named one, the first
                # line that does).
                self._unresolved.add(session_id)
            if channel is not None:
                self._channels[session_id] = channel

    def add(self, record: Any, path: str, line_no: int | None) -> bool:
        """Validate one record (a parsed JSON line); True when it was taken.

        Its line's `Line.origin` is ``path:line_no`` (``path`` alone without one)."""
        self.lines += 1
        problem = self.take(record, path, line_no)
        if problem is None:
            return True
        self.error(path, line_no, problem)
        return False

    def take(self, record: Any, source: str, line_no: int | None) -> str | None:
        """Store one record if it is good; else what is wrong with it, not yet
        recorded (the caller may look again before calling `error`).  Unlike `add`,
        it leaves counting the record (`lines`) to the caller."""
        line_no = line_no or None
        if type(record) is not dict:
            return f"a line must be a JSON object, got {_describe(record)}"
        get = record.get
        session = get("session")
        if type(session) is not str:
            if session is None:
                return "missing field 'session'"
            if type(session) is not int:
                return f"field 'session' must be a string, got {_describe(session)}"
            session = str(session)
        elif not session:
            return "field 'session' is empty"
        raw_ts = get("ts")
        if raw_ts is None:
            return "missing field 'ts'"
        ts = self._parse_ts(raw_ts)
        if ts is None:
            return (
                f"field 'ts': bad time {raw_ts!r}: expected ISO 8601 such as "
                "2026-11-23T09:31:00+08:00"
            )
        if not FIRST_YEAR <= ts.year <= LAST_YEAR:
            # Outside these years no conversation took place, and times near the
            # ends of the calendar (year 1, 9999) overflow once moved to UTC.
            return f"field 'ts': {raw_ts!r} is outside the years {FIRST_YEAR}–{LAST_YEAR}"
        # The known names map to one shared string each: a million lines then hold
        # a million references, not a million copies of "customer".
        raw_role = get("role")
        role = _ROLE_NAMES.get(raw_role) if type(raw_role) is str else None
        if role is None:
            if raw_role is None:
                return "missing field 'role'"
            return f"field 'role': unknown role {raw_role!r} (expected {_KNOWN_ROLES})"
        raw_channel = get("channel")
        channel = None
        if raw_channel is not None:
            channel = _CHANNEL_NAMES.get(raw_channel) if type(raw_channel) is str else None
            if channel is None:
                return (
                    f"field 'channel': unknown channel {raw_channel!r} (expected {_KNOWN_CHANNELS})"
                )
        strings = self._strings
        sender = get("sender")
        if sender is not None:
            if type(sender) is not str:
                if type(sender) is not int:
                    return f"field 'sender' must be a string, got {_describe(sender)}"
                sender = str(sender)
            sender = strings.setdefault(sender, sender)
        name = get("name")
        if name is not None:
            if type(name) is not str:
                return f"field 'name' must be a string, got {_describe(name)}"
            name = strings.setdefault(name, name)
        text = get("text")
        if text is not None and type(text) is not str:
            return f"field 'text' must be a string, got {_describe(text)}"
        event = None
        rating = None
        level = None
        if role == "event":
            raw_event = get("event")
            event = _EVENT_NAMES.get(raw_event) if type(raw_event) is str else None
            if event is None:
                if raw_event is None:
                    return "an event line needs field 'event'"
                return f"field 'event': unknown event {raw_event!r} (expected {_KNOWN_EVENTS})"
            if event == "satisfaction_rated":
                raw_rating = get("rating")
                rating = _RATING_NAMES.get(raw_rating) if type(raw_rating) is str else None
                if rating is None:
                    if raw_rating is None:
                        return f"satisfaction_rated needs field 'rating' ({_KNOWN_RATINGS})"
                    return (
                        f"field 'rating': unknown rating {raw_rating!r} (expected {_KNOWN_RATINGS})"
                    )
            elif event == "ticket_opened":
                raw_level = get("fault_level")
                if raw_level is not None:
                    level = FAULT_LEVEL_ALIASES.get(raw_level) if type(raw_level) is str else None
                    if level is None:
                        return (
                            f"field 'fault_level': unknown fault level {raw_level!r} "
                            f"(expected {_KNOWN_FAULT_LEVELS})"
                        )
        else:
            if text is None:
                return f"a {role} line needs field 'text'"
            if role == "agent" and not sender:
                return "an agent line needs field 'sender' (the engineer's 工号)"
        if channel is None:
            # Inherit from the line read before in this session (None before the first).
            channel = self._channels.get(session)
            if channel is None:
                self._unresolved.add(session)
        else:
            self._channels[session] = channel
        self._seq += 1
        row = (ts, role, channel, sender, name, text, event, rating, source, line_no, level)
        rows = self._rows.get(session)
        if rows is None:
            self._rows[session] = [row]
            self._first_seq[session] = self._seq
        else:
            rows.append(row)
        return None

    def _parse_ts(self, raw: Any) -> datetime | None:
        if type(raw) is not str:
            return None
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            return None
        if ts.tzinfo is None:
            return ts.replace(tzinfo=SHANGHAI)
        # Each aware time keeps the zone object fromisoformat made for it: sharing one
        # per offset saves ~80 bytes a line but `replace` costs more than the parse.
        return ts

    def finish(self) -> TranscriptRead:
        """Order every session and build its lines; the builder is spent afterwards."""
        sessions: list[Session] = []
        first_seen: list[int] = []
        pending = self._rows
        first_seqs = self._first_seq
        self._rows = {}
        self._first_seq = {}
        # Each session's rows are let go once its lines are built, so rows and lines
        # of a million-line read are not all held at once.
        for session_id in list(pending):
            rows = pending.pop(session_id)
            first = first_seqs[session_id]
            session = self._session(session_id, rows)
            if session is not None:
                sessions.append(session)
                first_seen.append(first)
            else:
                self._error_keys.append((1, first))
        return TranscriptRead(
            sessions, self._errors, self.files, self.lines, first_seen, self._error_keys
        )

    def _session(self, session_id: str, rows: list[tuple[Any, ...]]) -> Session | None:
        if session_id not in self._channels:
            first = rows[0]
            self._errors.append(
                TranscriptError(
                    first[_SOURCE],
                    first[_LINE_NO],
                    f"session {session_id!r} names no 'channel' on any line "
                    "(give it at least on the session's first line)",
                )
            )
            return None
        session_channel = next(row[_CHANNEL] for row in rows if row[_CHANNEL] is not None)
        if session_id in self._unresolved:
            # Lines read before the first one naming a channel take that channel;
            # after it, a line without one has the channel of the line before.
            inherited = session_channel
            resolved: list[tuple[Any, ...]] = []
            for row in rows:
                if row[_CHANNEL] is None:
                    row = _with_channel(row, inherited)
                else:
                    inherited = row[_CHANNEL]
                resolved.append(row)
            rows = resolved
        rows.sort(key=itemgetter(_TS))  # stable: equal times keep reading order
        names: dict[str, str] = {}
        lines: list[Line] = []
        append = lines.append
        for index, row in enumerate(rows):
            ts, role, channel, sender, name, text, event, rating, source, line_no, level = row
            if name is not None and role == "agent":
                names.setdefault(sender, name)
            append(
                Line(
                    session_id,
                    index,
                    ts,
                    role,
                    channel,
                    sender,
                    name,
                    text,
                    event,
                    rating,
                    source,
                    line_no,
                    level,
                )
            )
        return Session(id=session_id, channel=session_channel, lines=tuple(lines), names=names)


def _with_channel(row: tuple[Any, ...], channel: str) -> tuple[Any, ...]:
    return (*row[:_CHANNEL], channel, *row[_CHANNEL + 1 :])


def sessions_from_records(records: Iterable[Mapping[str, Any]], origin: str) -> TranscriptRead:
    """Sessions from already-parsed records (SPEC §4 fields), validated like file lines.

    Errors name ``origin:N`` with N the 1-based position of the record.
    """
    builder = TranscriptBuilder()
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict) and isinstance(record, Mapping):
            record = dict(record)
        builder.add(record, origin, number)
    return builder.finish()
