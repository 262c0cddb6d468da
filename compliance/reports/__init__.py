"""Report formats of ``aftersales check``: text, json, csv, html, xlsx.

`WRITERS` is the one table of them: each ``--format`` with how its writer is made,
whether it writes a binary file (given with ``--out``) or text to a stream, whether
it shows the transcripts of flagged sessions, and the per-session encoder of a
format whose output for a session depends on that session alone.  The command
line's ``--format`` choices, the console's downloads and the check's worker
processes all read it.

Every writer takes the run's facts (`RunInfo`), then one `ReportedSession` at a
time, then the `Summary`; text, JSON and CSV write as the sessions come (a
million-line run streams), HTML and XLSX keep only what they show.  Personal
numbers are masked before a writer sees a finding (`compliance.masking`); the
writers mask transcript text themselves.  The writers' modules are imported when a
writer is made, so reading the table costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from compliance.reports.summary import ReportedSession, RunInfo, Summary

__all__ = [
    "BINARY_FORMATS",
    "FORMATS",
    "WRITERS",
    "EncodedWriter",
    "ReportFormat",
    "ReportWriter",
    "make_writer",
    "session_encoder",
]


class ReportWriter(Protocol):
    """What the ``check`` command drives: begin, one call per session, finish."""

    def begin(self, run: RunInfo) -> None:
        """Called once, before any session (input errors are known by then)."""

    def session(self, reported: ReportedSession) -> None:
        """Called once per checked session, in input order."""

    def finish(self, summary: Summary) -> None:
        """Called once at the end; writes the summary and completes the output."""


class EncodedWriter(ReportWriter, Protocol):
    """A writer whose output for a session depends on that session alone: the
    encoding (`session_encoder`) can run in a worker process, the writing here."""

    def session_encoded(self, encoded: Any) -> None:
        """Called instead of `session`, in input order, with what the encoder made."""


@dataclass(frozen=True, slots=True)
class ReportFormat:
    """One ``--format``: its writer and what the run must give it."""

    make: Callable[[TextIO | None, Path | None, bool], ReportWriter]
    """(stream, path, colour) -> the writer; a binary format writes to `path`."""
    noun: str
    """What it writes, for messages (``--format xlsx writes a workbook``)."""
    binary: bool = False
    """Writes a file of its own (``--out`` required) rather than text to a stream."""
    shows_transcripts: bool = False
    """Shows the lines of flagged sessions (worker processes must send them back)."""
    encoder: Callable[[], Callable[[ReportedSession], Any]] | None = None
    """Gives the function that encodes one session (`EncodedWriter.session_encoded`)."""


def _text(stream: TextIO | None, path: Path | None, color: bool) -> ReportWriter:
    from compliance.reports.text import TextReport

    return TextReport(_stream(stream, "text"), color=color)


def _json(stream: TextIO | None, path: Path | None, color: bool) -> ReportWriter:
    from compliance.reports.json import JsonReport

    return JsonReport(_stream(stream, "json"))


def _json_encoder() -> Callable[[ReportedSession], Any]:
    from compliance.reports.json import encode_session

    return encode_session


def _csv(stream: TextIO | None, path: Path | None, color: bool) -> ReportWriter:
    from compliance.reports.csv import CsvReport

    return CsvReport(_stream(stream, "csv"))


def _html(stream: TextIO | None, path: Path | None, color: bool) -> ReportWriter:
    from compliance.reports.html import HtmlReport

    return HtmlReport(_stream(stream, "html"))


def _xlsx(stream: TextIO | None, path: Path | None, color: bool) -> ReportWriter:
    from compliance.reports.xlsx import XlsxReport

    if path is None:
        raise ValueError("--format xlsx writes a file: give --out FILE")
    return XlsxReport(path)


def _stream(stream: TextIO | None, fmt: str) -> TextIO:
    if stream is None:
        raise ValueError(f"--format {fmt} needs an output stream")
    return stream


WRITERS: Mapping[str, ReportFormat] = {
    "text": ReportFormat(_text, "a text report"),
    "json": ReportFormat(_json, "a JSON report", encoder=_json_encoder),
    "csv": ReportFormat(_csv, "a CSV table"),
    "html": ReportFormat(_html, "an HTML page", shows_transcripts=True),
    "xlsx": ReportFormat(_xlsx, "a workbook", binary=True),
}
FORMATS: tuple[str, ...] = tuple(WRITERS)
BINARY_FORMATS: frozenset[str] = frozenset(name for name, f in WRITERS.items() if f.binary)


def _format(fmt: str) -> ReportFormat:
    try:
        return WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})") from None


def session_encoder(fmt: str) -> Callable[[ReportedSession], Any] | None:
    """The function that turns a checked session into what `fmt`'s writer writes
    (`EncodedWriter.session_encoded`), where the format has one; None otherwise."""
    encoder = _format(fmt).encoder
    return encoder() if encoder is not None else None


def make_writer(
    fmt: str, *, stream: TextIO | None = None, path: Path | None = None, color: bool = False
) -> ReportWriter:
    """The writer of `fmt`: text formats write to `stream`, binary ones to `path`."""
    return _format(fmt).make(stream, path, color)
