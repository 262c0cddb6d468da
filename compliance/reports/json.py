"""``--format json``: one object ``{"findings": [...], "summary": {...}}`` (SPEC §3).

Findings are written as their sessions are checked, one per line inside the
array, so the report of a million-line run is never built in memory; the
summary follows at the end.  Each finding is `Finding.to_dict()` plus
``rule_name`` and ``false_positive``.

The summary's per-session ``scores`` (one entry per session, the largest part of
the summary) are encoded as the sessions go by, too, and spliced into the summary
at the end, where encoding them all at once would hold up the end of the run.

Encoding is orjson's (compact, UTF-8 as is): twice as fast as the standard
library's encoder on these records, which counts at tens of thousands of findings.
"""

from __future__ import annotations

from typing import Any, TextIO

import orjson

from compliance.codes import RULE_CODES
from compliance.reports.summary import ReportedSession, RunInfo, Summary, score_record

__all__ = ["JsonReport", "encode_session"]



def _encode(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def encode_session(reported: ReportedSession) -> tuple[str, str]:
    """A session's part of the report: its findings (one JSON object per line, ""
    without findings) and its entry of the summary's ``scores``.  Depends on the
    session alone, so worker processes run it and the parent only writes."""
    parts: list[str] = []
    names = RULE_CODES
    for finding, false_positive in zip(reported.findings, reported.false_positive, strict=True):
        record = finding.to_dict()
        record["rule_name"] = names.get(finding.rule, finding.rule)
        record["false_positive"] = false_positive
        parts.append(_encode(record))
    return ",\n".join(parts), _encode(score_record(reported.score))


class JsonReport:
    """Streams the JSON report to a text stream."""

    def __init__(self, stream: TextIO) -> None:
        self._out = stream
        self._first = True
        self._scores: list[str] = []

    def begin(self, run: RunInfo) -> None:
        self._out.write('{"findings":[')

    def session(self, reported: ReportedSession) -> None:
        self.session_encoded(encode_session(reported))

    def session_encoded(self, encoded: tuple[str, str]) -> None:
        """Write a session that `encode_session` encoded (here or in a worker)."""
        findings, score = encoded
        self._scores.append(score)
        if not findings:
            return
        lead = "\n" if self._first else ",\n"
        self._first = False
        self._out.write(lead + findings)

    def finish(self, summary: Summary) -> None:
        tail = "]" if self._first else "\n]"
        self._out.write(f'{tail},"summary":{self._summary(summary)}}}\n')

    def _summary(self, summary: Summary) -> str:
        """`summary.to_dict()` encoded, its ``scores`` those encoded on the way."""
        if len(self._scores) != summary.sessions:  # not the sessions written here
            return _encode(summary.to_dict())
        fields = summary.to_dict(scores=False)
        names = list(fields)
        cut = names.index("scores")
        head = _encode({name: fields[name] for name in names[:cut]})
        tail = _encode({name: fields[name] for name in names[cut + 1 :]})
        scores = ",".join(self._scores)
        return f'{head[:-1]},"scores":[{scores}],{tail[1:]}'
