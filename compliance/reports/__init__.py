"""Report formats of ``aftersales check``: text, json, csv, html, xlsx.

Every writer takes the run's facts (`RunInfo`), then one `ReportedSession` at a
time, then the `Summary`; text, JSON and CSV write as the sessions come (a
million-line run streams), HTML and XLSX keep only what they show.  Personal
numbers are masked before a writer sees a finding (`compliance.masking`); the
writers mask transcript text themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from compliance.reports.summary import ReportedSession, RunInfo, Summary, SummaryBuilder

__all__ = [
    "FORMATS",
    "EncodedWriter",
    "ReportWriter",
    "ReportedSession",
    "RunInfo",
    "Summary",
    "SummaryBuilder",
    "make_writer",
    "session_encoder",
]

FORMATS: tuple[str, ...] = ("text", "json", "csv", "html", "xlsx")
BINARY_FORMATS: frozenset[str] = frozenset({"xlsx"})


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


def session_encoder(fmt: str) -> Callable[[ReportedSession], Any] | None:
    """The function that turns a checked session into what `fmt`'s writer writes
    (`EncodedWriter.session_encoded`), where the format has one; None otherwise."""
    if fmt == "json":
        from compliance.reports.json import encode_session

        return encode_session
    return None


def make_writer(
    fmt: str, *, stream: TextIO | None = None, path: Path | None = None, color: bool = False
) -> ReportWriter:
    """The writer of `fmt`: text formats write to `stream`, xlsx to `path`."""
    if fmt in BINARY_FORMATS:
        if path is None:
            raise ValueError(f"--format {fmt} writes a file: give --out FILE")
        from compliance.reports.xlsx import XlsxReport

        return XlsxReport(path)
    if stream is None:
        raise ValueError(f"--format {fmt} needs an output stream")
    if fmt == "text":
        from compliance.reports.text import TextReport

        return TextReport(stream, color=color)
    if fmt == "json":
        from compliance.reports.json import JsonReport

        return JsonReport(stream)
    if fmt == "csv":
        from compliance.reports.csv import CsvReport

        return CsvReport(stream)
    if fmt == "html":
        from compliance.reports.html import HtmlReport

        return HtmlReport(stream)
    raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
