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

For several cores, `ReadPlan` splits the bytes of the files into equal ranges, one
per worker process; each reads the lines that begin in its range, and a session
with lines in several ranges is handed to the first of them (`read_parts` does the
same in one process).

`TranscriptBuilder` is the same validation for records that come from elsewhere
(the database adapter feeds it stored messages and ticket events);
`sessions_from_records` is the short way to use it.

This is the hot path of a large check (a million lines): one ``json.loads`` per
line, a dictionary lookup per field, no per-line objects but one tuple until the
session is complete.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import json
import os
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from compliance.calendar import SHANGHAI
from compliance.model import EVENTS, ROLES, SATISFACTION_LABELS, Line, Session, TranscriptError
from compliance.policy import CHANNELS

__all__ = [
    "HandOver",
    "ReadPlan",
    "TranscriptBuilder",
    "TranscriptRead",
    "owners",
    "read_parts",
    "read_transcripts",
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

HandOver = dict[str, tuple[list[tuple[Any, ...]], str | None, bool]]
"""Sessions one reader hands to another (`TranscriptBuilder.hand_over`): per session,
its rows in reading order, the channel of its last line, and whether a line among
them came before the session named a channel."""

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
            if channel is None:
                self._unresolved.add(session)
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


def read_transcripts(paths: Iterable[str | os.PathLike[str]]) -> TranscriptRead:
    """Read every transcript file of `paths` (files or directories of ``*.jsonl``)."""
    with _no_collection():
        return ReadPlan.of(paths).read_part(0, 1).finish()


def read_parts(paths: Iterable[str | os.PathLike[str]], parts: int) -> list[TranscriptRead]:
    """`paths` read in `parts` parts, one after the other (`ReadPlan.read_in_parts`)."""
    return ReadPlan.of(paths).read_in_parts(parts)


def owners(session_ids: Sequence[Sequence[str]]) -> list[dict[str, int]]:
    """Per part (given the sessions each part read, parts in reading order): which
    of its sessions it hands over, and to which part, the first that read any of
    their lines."""
    first: dict[str, int] = {}
    plans: list[dict[str, int]] = []
    for part, ids in enumerate(session_ids):
        give: dict[str, int] = {}
        for session_id in ids:
            owner = first.setdefault(session_id, part)
            if owner != part:
                give[session_id] = owner
        plans.append(give)
    return plans


_PART_SHIFT = 40
"""Reading positions of part k start at k << _PART_SHIFT: a part reads fewer than
2**40 lines, so positions of several parts sort in reading order."""


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The files to read, their sizes when the read began, and what is missing.

    Reading in parts splits the bytes of all files, taken one after the other, into
    equal ranges; a part reads the lines that begin in its range.  Sessions whose
    lines fall in several parts are then handed to the first of them
    (`TranscriptBuilder.hand_over`).
    A file that grows while read has its new lines read by the part that reads its
    end."""

    files: tuple[Path, ...]
    sizes: tuple[int, ...]
    problems: tuple[TranscriptError, ...]

    @classmethod
    def of(cls, paths: Iterable[str | os.PathLike[str]]) -> ReadPlan:
        files, problems = transcript_files(paths)
        sizes: list[int] = []
        for path in files:
            try:
                sizes.append(path.stat().st_size)
            except OSError:
                sizes.append(0)  # reported when read
        return cls(tuple(files), tuple(sizes), tuple(problems))

    def read_in_parts(self, parts: int) -> list[TranscriptRead]:
        """Every part, read one after the other in this process, the sessions handed
        over as worker processes do (`compliance.parallel`): every session, and every
        bad line, is in exactly one part; `TranscriptRead.first_seen` and
        `error_keys` give the positions to merge the parts into the order of one
        whole read."""
        with _no_collection():
            reads = [self.read_part(part, parts) for part in range(parts)]
            plans = owners([reading.session_ids() for reading in reads])
            handed = [reading.hand_over(give) for reading, give in zip(reads, plans, strict=True)]
            for owner, reading in enumerate(reads):
                for given in handed:
                    if owner in given:
                        reading.take_over(given[owner])
            return [reading.finish() for reading in reads]

    def read_part(self, part: int, parts: int) -> TranscriptBuilder:
        """Read part `part` (0-based) of `parts`, not yet made into sessions: first
        `TranscriptBuilder.hand_over` the sessions an earlier part also read, then
        `take_over` those later parts read on, then `finish`.  Best with the cyclic
        garbage collector off, as `read_transcripts` has it (see `_no_collection`)."""
        if not 0 <= part < parts:
            raise ValueError(f"part {part} of {parts}: expected 0 <= part < parts")
        builder = TranscriptBuilder(first_position=part << _PART_SHIFT)
        self._read(builder, part, parts)
        return builder

    def _read(self, builder: TranscriptBuilder, part: int, parts: int) -> None:
        if part == 0:
            for problem in self.problems:
                builder.error(problem.path, None, problem.problem)
        total = sum(self.sizes)
        bounds = [total * k // parts for k in range(parts)]

        def owner(offset: int) -> int:
            return bisect_right(bounds, offset) - 1

        start = bounds[part]
        end = bounds[part + 1] if part + 1 < parts else None
        offset = 0
        for path, size in zip(self.files, self.sizes, strict=True):
            name = str(path)
            builder.files.append(name)
            first_owner = owner(offset)
            last_owner = owner(offset + size - 1) if size else first_owner
            here_from = max(start - offset, 0)
            # The file's lines that begin before `here_to` are read here; the part
            # with its last byte also reads what was added since the sizes were taken.
            here_to = None if part == last_owner else (end - offset if end is not None else None)
            offset += size
            if part < first_owner or part > last_owner:
                continue
            _read_file(builder, name, here_from, here_to, reports=part == first_owner)


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """Reading creates millions of objects and no reference cycles; the cyclic
    collector would walk them again and again for nothing (a quarter of the time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _read_file(
    builder: TranscriptBuilder, name: str, start: int, stop: int | None, *, reports: bool
) -> None:
    """Read the lines of file `name` that begin at byte `start` or later and before
    byte `stop` (None: to the end).  Only a part that `reports` says what is wrong
    with the file as a whole (it cannot be opened, it is UTF-16); the others leave
    such a file alone.  A failure while reading is every part's to report."""
    decode = json.JSONDecoder().raw_decode
    add = builder.add
    opened = False
    try:
        with open(name, "rb") as fh:
            opened = True
            first_line = 1
            if start > 0:
                if _wide_encoding(fh.read(4)) is not None:
                    return  # the part with its first line says so
                fh.seek(start - 1)
                if fh.read(1) != b"\n":
                    start += len(fh.readline())  # that line began in an earlier part
                first_line += _count_lines(fh, start)
            budget = None if stop is None else stop - start
            for line_no, raw in enumerate(fh, first_line):
                if budget is not None:
                    if budget <= 0:
                        break
                    budget -= len(raw)
                if line_no == 1:
                    if raw.startswith(codecs.BOM_UTF8):
                        raw = raw[len(codecs.BOM_UTF8) :]  # editors on Windows add one
                    elif (encoding := _wide_encoding(raw)) is not None:
                        # Notepad's "Unicode" and Excel's "Unicode text": say so once,
                        # not once per line as undecodable UTF-8.
                        builder.error(
                            name,
                            None,
                            f"encoded as {encoding} (it starts with that byte-order mark); "
                            "transcripts must be UTF-8: convert it, e.g. "
                            f"iconv -f {encoding} -t UTF-8",
                        )
                        return
                if not raw.strip():
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
                    builder.lines += 1
                    builder.error(
                        name, line_no, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
                    )
                    continue
                except ValueError as exc:
                    builder.lines += 1
                    builder.error(name, line_no, f"not valid JSON ({_json_problem(exc)})")
                    continue
                add(record, name, line_no)
    except OSError as exc:
        if reports or opened:
            builder.error(name, None, f"cannot read: {exc.strerror or exc}")


def _count_lines(fh: BinaryIO, stop: int) -> int:
    """Line breaks in the first `stop` bytes of the file `fh` reads; leaves `fh` at
    byte `stop`."""
    fh.seek(0)
    count = 0
    left = stop
    while left > 0:
        block = fh.read(min(left, 1 << 20))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count


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
