"""Reading transcript files (SPEC §4 JSON Lines) into `Session`s, line by line.

`read_transcripts(paths)` takes files and directories (a directory means every
``*.jsonl`` in it, whatever the case of the extension, sorted by name;
`transcript_files` says which entries it had to skip).  Every line is parsed and handed to a
`compliance.transcript.TranscriptBuilder`, which validates it; a line that is not
JSON, or not UTF-8, becomes a `TranscriptError` ("FILE:LINE: what is wrong") and
reading goes on (blank lines carry nothing and are skipped).  Files are UTF-8 (a
UTF-8 byte-order mark is skipped); a file that starts with a UTF-16 or UTF-32
byte-order mark (Windows Notepad's "Unicode") is one error for the whole file,
saying how to convert it, rather than one per line.

For several cores, `ReadPlan` splits the bytes of the files into equal ranges, one
per worker process; each reads the lines that begin in its range, and a session
with lines in several ranges is handed to the first of them (`read_parts` does the
same in one process).

This is the hot path of a large check (a million lines): one JSON decode per line
and the builder's checks, nothing else.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import json
import os
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson
from orjson import JSONDecodeError

from compliance.model import TranscriptError
from compliance.transcript import TranscriptBuilder, TranscriptRead

__all__ = [
    "ReadPlan",
    "TranscriptFiles",
    "owners",
    "read_parts",
    "read_transcripts",
    "transcript_files",
]


class TranscriptFiles(NamedTuple):
    """What the command line's paths stand for."""

    files: list[Path]
    """The files to read, in order (a directory's sorted by name)."""
    missing: list[TranscriptError]
    """Paths that are not there, or not readable as files or directories."""
    skipped: list[str]
    """Entries of a directory named like a transcript that cannot be read (a broken
    symbolic link, a folder named ``x.jsonl``), as ``PATH: skipped (why)``."""


def transcript_files(paths: Iterable[str | os.PathLike[str]]) -> TranscriptFiles:
    """The files `paths` stand for: a directory means every ``*.jsonl`` in it, the
    extension in any case (``UPPER.JSONL`` too), sorted by name."""
    found = TranscriptFiles([], [], [])
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            _directory(path, found)
        elif path.is_file():
            found.files.append(path)
        elif path.exists():
            found.missing.append(
                TranscriptError(str(path), None, "not a regular file or directory")
            )
        else:
            found.missing.append(TranscriptError(str(path), None, "no such file or directory"))
    return found


def _directory(folder: Path, found: TranscriptFiles) -> None:
    try:
        entries = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jsonl")
    except OSError as exc:
        found.missing.append(
            TranscriptError(str(folder), None, f"cannot read the directory: {exc.strerror or exc}")
        )
        return
    files = [p for p in entries if p.is_file()]
    for entry in entries:
        if entry.is_file():
            continue
        if entry.is_symlink() and not entry.exists():
            why = "a broken symbolic link"
        elif entry.is_dir():
            why = "a directory"
        else:
            why = "not a regular file"
        found.skipped.append(f"{entry}: skipped ({why})")
    if not files:
        found.missing.append(TranscriptError(str(folder), None, "directory holds no *.jsonl file"))
    found.files.extend(files)


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
        files, problems, _skipped = transcript_files(paths)
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
    loads = orjson.loads
    take = builder.take
    opened = False
    records = 0  # counted here, added to the builder's count at the end
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
                try:
                    record = loads(raw)
                except JSONDecodeError:
                    if raw.strip():
                        records += 1
                        _take_exactly(builder, raw, name, line_no)
                    continue  # a blank line carries nothing
                records += 1
                problem = take(record, name, line_no)
                if problem is not None:
                    _reject(builder, record, problem, raw, name, line_no)
    except OSError as exc:
        if reports or opened:
            builder.error(name, None, f"cannot read: {exc.strerror or exc}")
    finally:
        builder.lines += records


_decode = json.JSONDecoder().raw_decode


def _parse_exactly(raw: bytes) -> Any:
    """`raw` parsed by the standard library, which is the reference: what orjson
    refuses is read (or refused, with the message) as the standard library reads it.

    Raises UnicodeDecodeError, ValueError (JSONDecodeError among them) or
    RecursionError."""
    text = raw.decode("utf-8")
    if text[0].isspace():
        text = text.lstrip()
    # raw_decode skips json.loads' encoding sniffing; what follows the object must
    # be white space.
    record, end = _decode(text)
    if end < len(text) and not text[end:].isspace():
        raise json.JSONDecodeError("Extra data", text, end)
    return record


def _take_exactly(builder: TranscriptBuilder, raw: bytes, name: str, line_no: int) -> None:
    """A line orjson refused: the standard library's verdict, and its message.

    The standard library takes a few things orjson does not (white space such as
    U+3000 around the object, NaN and Infinity, numbers beyond 64 bits, escaped
    lone surrogates); the record is then checked as any other."""
    try:
        record = _parse_exactly(raw)
    except UnicodeDecodeError as exc:
        problem: str | None = f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    except RecursionError:
        problem = "not valid JSON (arrays or objects nested too deeply)"
    except ValueError as exc:
        problem = f"not valid JSON ({_json_problem(exc)})"
    else:
        key = _lone_surrogate(record)
        if key is not None:
            problem = (
                f"field {key!r} holds an escaped lone surrogate "
                "(half of a UTF-16 pair, not a character)"
            )
        else:
            problem = builder.take(record, name, line_no)
    if problem is not None:
        builder.error(name, line_no, problem)


def _reject(
    builder: TranscriptBuilder, record: Any, problem: str, raw: bytes, name: str, line_no: int
) -> None:
    """Record what is wrong with a line orjson read.  orjson reads an integer beyond
    64 bits as a float, where the standard library keeps it (an integer ``session``
    is taken, and a message quotes the value as written): such a line is looked at
    again as the standard library reads it."""
    if type(record) is dict and any(type(value) is float for value in record.values()):
        exact = _parse_exactly(raw)
        if exact != record:
            found = builder.take(exact, name, line_no)
            if found is None:
                return
            problem = found
    builder.error(name, line_no, problem)


def _lone_surrogate(record: Any) -> str | None:
    """The first top-level field whose text holds a lone surrogate (which no UTF-8
    report can hold), if any."""
    if type(record) is dict:
        for key, value in record.items():
            if type(value) is str:
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return str(key)
    return None


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
