"""Reading transcripts (SPEC §4 JSON Lines) into `Session`s, line by line.

`read_transcripts(paths)` takes files and directories (a directory means every
``*.jsonl`` in it, sorted by name).  Every line is checked; a bad one becomes a
`TranscriptError` ("FILE:LINE: what is wrong") and reading goes on, so one run
reports every bad line and the caller decides what to do (the ``check`` command
exits 2 and presents no report as complete).  Nothing is dropped silently: a line
is either in a session or in the errors (blank lines carry nothing and are skipped).
Files are UTF-8 (a UTF-8 byte-order mark is skipped); a file that starts with a
UTF-16 or UTF-32 byte-order mark (Windows Notepad's "Unicode") is one error for
the whole file, saying how to convert it, rather than one per line.

Lines are grouped by ``session``; within a session they are ordered by ``ts``, then
by the order they were read (file order, files in the order given); ``index`` is the
0-based position after that ordering.  A naive ``ts`` is Asia/Shanghai time.
``channel`` may be left out after a session's first line: such a line inherits the
channel of the line read before it in the same session.

`TranscriptBuilder` is the same validation for records that come from elsewhere
(the database adapter feeds it stored messages and ticket events);
`sessions_from_records` is the short way to use it.

This is the hot path of a large check (a million lines): one ``json.loads`` per
line, a dictionary lookup per field, no per-line objects but one tuple until the
session is complete.
"""

from __future__ import annotations

import codecs
import gc
import json
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from compliance.calendar import SHANGHAI
from compliance.model import EVENTS, ROLES, SATISFACTION_LABELS, Line, Session, TranscriptError
from compliance.policy import CHANNELS

__all__ = [
    "TranscriptBuilder",
    "TranscriptRead",
    "read_transcripts",
    "session_part",
    "sessions_from_records",
    "transcript_files",
]

_CHANNEL_NAMES = {name: name for name in CHANNELS}
_EVENT_NAMES = {name: name for name in EVENTS}
_ROLE_NAMES = {name: name for name in ROLES}
_RATING_NAMES = {name: name for name in SATISFACTION_LABELS}
_KNOWN_ROLES = ", ".join(sorted(ROLES))
_KNOWN_CHANNELS = ", ".join(CHANNELS)
_KNOWN_EVENTS = ", ".join(sorted(EVENTS))
_KNOWN_RATINGS = " / ".join(SATISFACTION_LABELS)

# Fields of a pending row, before the session is ordered and Lines are built.
_TS, _ROLE, _CHANNEL, _SENDER, _NAME, _TEXT, _EVENT, _RATING, _SOURCE, _LINE_NO = range(10)


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

    def __init__(self) -> None:
        self._rows: dict[str, list[tuple[Any, ...]]] = {}
        # Per session, the reading position of its first line (rows keep reading
        # order until `finish` sorts them, so only the first one needs one).
        self._first_seq: dict[str, int] = {}
        self._errors: list[TranscriptError] = []
        self._error_keys: list[tuple[int, int]] = []
        self._seq = 0
        self._channels: dict[str, str] = {}
        self._strings: dict[str, str] = {}
        self.files: list[str] = []
        self.lines = 0

    def error(self, path: str, line_no: int | None, problem: str) -> None:
        """Record what is wrong with a line (or a whole file, `line_no` None); it
        takes a reading position like a record does."""
        self._seq += 1
        self._errors.append(TranscriptError(path, line_no, problem))
        self._error_keys.append((0, self._seq))

    def skip(self) -> None:
        """Count a record that another reader takes (reading in parts, one per core):
        reading positions, and so the order of sessions and errors, stay those of
        one reader going through everything."""
        self._seq += 1

    def add(self, record: Any, path: str, line_no: int | None) -> bool:
        """Validate one record (a parsed JSON line); True when it was taken.

        Its line's `Line.origin` is ``path:line_no`` (``path`` alone without one)."""
        self.lines += 1
        problem = self._take(record, path, line_no or None)
        if problem is None:
            return True
        self.error(path, line_no, problem)
        return False

    def _take(self, record: Any, source: str, line_no: int | None) -> str | None:
        # Returns what is wrong with the record, or None after storing it.
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
        else:
            if text is None:
                return f"a {role} line needs field 'text'"
            if role == "agent" and not sender:
                return "an agent line needs field 'sender' (the engineer's 工号)"
        if channel is None:
            # Inherit from the line read before in this session (None before the first).
            channel = self._channels.get(session)
        else:
            self._channels[session] = channel
        self._seq += 1
        row = (ts, role, channel, sender, name, text, event, rating, source, line_no)
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
        if rows[0][_CHANNEL] is None:
            # Lines read before the first one naming a channel take that channel.
            rows = [
                row if row[_CHANNEL] is not None else _with_channel(row, session_channel)
                for row in rows
            ]
        rows.sort(key=itemgetter(_TS))  # stable: equal times keep reading order
        names: dict[str, str] = {}
        lines: list[Line] = []
        append = lines.append
        for index, row in enumerate(rows):
            ts, role, channel, sender, name, text, event, rating, source, line_no = row
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
                )
            )
        return Session(id=session_id, channel=session_channel, lines=tuple(lines), names=names)


def _with_channel(row: tuple[Any, ...], channel: str) -> tuple[Any, ...]:
    return (*row[:_CHANNEL], channel, *row[_CHANNEL + 1 :])


def transcript_files(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], list[TranscriptError]]:
    """The files `paths` stand for (a directory: its ``*.jsonl``, sorted), and what is missing."""
    files: list[Path] = []
    errors: list[TranscriptError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.jsonl") if p.is_file())
            if not found:
                errors.append(TranscriptError(str(path), None, "directory holds no *.jsonl file"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            errors.append(TranscriptError(str(path), None, "not a regular file or directory"))
        else:
            errors.append(TranscriptError(str(path), None, "no such file or directory"))
    return files, errors


def read_transcripts(
    paths: Iterable[str | os.PathLike[str]], *, part: tuple[int, int] | None = None
) -> TranscriptRead:
    """Read every transcript file of `paths` (files or directories of ``*.jsonl``).

    ``part=(k, n)`` reads only the k-th of n disjoint parts (0-based), split by
    session, for reading on several cores: every session, and every bad line, falls
    in exactly one part; `TranscriptRead.first_seen` and `error_keys` give the
    positions to merge the parts back into the order one whole read has.
    """
    if part is not None and not 0 <= part[0] < part[1]:
        raise ValueError(f"part {part[0]} of {part[1]}: expected 0 <= k < n")
    # Reading creates millions of objects and no reference cycles; the cyclic
    # collector would walk them again and again for nothing (a quarter of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read(paths, part)
    finally:
        if collecting:
            gc.enable()


# The session of a raw line, without parsing it: the one '"session": "…"' (no escape
# in the value) or '"session": 123' on the line.  Anything else (no such key, two of
# them, escapes, odd numbers such as -0) is parsed to find out; see `_read`.
_RAW_SESSION = re.compile(rb'"session"\s*:\s*(?:"([^"\\]*)"|(0|-?[1-9][0-9]*)\s*[,}])')


def session_part(session: str, parts: int) -> int:
    """The part (of `parts`) a session id belongs to; the same in every process."""
    return zlib.crc32(session.encode("utf-8", "surrogatepass")) % parts


def _record_part(record: Any, parts: int) -> int:
    # The part of a parsed record; records without a usable session go to part 0,
    # which reports them.
    session = record.get("session") if type(record) is dict else None
    if type(session) is int:
        session = str(session)
    if type(session) is not str or not session:
        return 0
    return session_part(session, parts)


def _read(paths: Iterable[str | os.PathLike[str]], part: tuple[int, int] | None) -> TranscriptRead:
    files, problems = transcript_files(paths)
    builder = TranscriptBuilder()
    mine, parts = part if part is not None else (0, 1)
    whole = parts == 1
    for problem in problems:
        _whole_file(builder, mine, problem.path, problem.problem)
    decode = json.JSONDecoder().raw_decode
    search = _RAW_SESSION.search
    crc32 = zlib.crc32
    skip = builder.skip
    same_start: bytes | None = None  # see below
    same_owner = 0
    for path in files:
        name = str(path)
        builder.files.append(name)
        add = builder.add
        try:
            with path.open("rb") as fh:
                for line_no, raw in enumerate(fh, 1):
                    if line_no == 1:
                        if raw.startswith(codecs.BOM_UTF8):
                            raw = raw[len(codecs.BOM_UTF8) :]  # editors on Windows add one
                        elif (encoding := _wide_encoding(raw)) is not None:
                            # Notepad's "Unicode" and Excel's "Unicode text": say so once,
                            # not once per line as undecodable UTF-8.
                            _whole_file(
                                builder,
                                mine,
                                name,
                                f"encoded as {encoding} (it starts with that byte-order mark); "
                                "transcripts must be UTF-8: convert it, e.g. "
                                f"iconv -f {encoding} -t UTF-8",
                            )
                            break
                    if not raw.strip():
                        continue
                    owner = None
                    # The part of the line's session off the raw bytes where that is
                    # certain: an unescaped '"session"' followed by ':' can only be a key
                    # in valid JSON, and a value without escapes is its own UTF-8, so
                    # this agrees with `session_part`.  Otherwise parse to find out.
                    if not whole and raw.count(b'"session"') == 1:
                        if same_start is not None and raw.startswith(same_start):
                            # The opening of the line before, up to the end of its
                            # session value, and still one '"session"' on the line:
                            # the same session (lines of one usually come together).
                            owner = same_owner
                        else:
                            found = search(raw)
                            if found is not None:
                                owner = crc32(found[found.lastindex or 1]) % parts
                                same_start = raw[: found.end()] if found.start() == 1 else None
                                same_owner = owner
                        if owner is not None and owner != mine:
                            skip()
                            continue
                    try:
                        text = raw.decode("utf-8")
                        if text[0].isspace():
                            text = text.lstrip()
                        # raw_decode skips json.loads' encoding sniffing; what follows
                        # the object must be white space.
                        record, end = decode(text)
                        if end < len(text) and not text[end:].isspace():
                            raise json.JSONDecodeError("Extra data", text, end)
                    except UnicodeDecodeError as exc:
                        if owner is None and mine != 0:
                            skip()
                            continue
                        builder.lines += 1
                        builder.error(
                            name, line_no, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
                        )
                        continue
                    except ValueError as exc:
                        if owner is None and mine != 0:
                            skip()
                            continue
                        builder.lines += 1
                        builder.error(name, line_no, f"not valid JSON ({_json_problem(exc)})")
                        continue
                    if owner is None and not whole and _record_part(record, parts) != mine:
                        skip()
                        continue
                    add(record, name, line_no)
        except OSError as exc:
            _whole_file(builder, mine, name, f"cannot read: {exc.strerror or exc}")
    return builder.finish()


def _whole_file(builder: TranscriptBuilder, mine: int, path: str, problem: str) -> None:
    """A problem with a whole file: the first part reports it, the others only count
    its reading position (so every part keeps the same positions)."""
    if mine == 0:
        builder.error(path, None, problem)
    else:
        builder.skip()


# Longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF16_LE, "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
)


def _wide_encoding(first: bytes) -> str | None:
    """The UTF-16 or UTF-32 encoding whose byte-order mark `first` starts with."""
    for bom, encoding in _WIDE_BOMS:
        if first.startswith(bom):
            return encoding
    return None


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


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
