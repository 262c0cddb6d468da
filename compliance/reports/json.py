"""``--format json``: one object ``{"findings": [...], "summary": {...}}`` (SPEC §3).

Findings are written as their sessions are checked, one per line inside the
array, so the report of a million-line run is never built in memory; the
summary follows at the end.  Each finding is `Finding.to_dict()` plus
``rule_name`` and ``false_positive``.
"""

from __future__ import annotations

import json
from typing import TextIO

from compliance.codes import RULE_CODES
from compliance.reports.summary import ReportedSession, RunInfo, Summary

__all__ = ["JsonReport"]


class JsonReport:
    """Streams the JSON report to a text stream."""

    def __init__(self, stream: TextIO) -> None:
        self._out = stream
        self._first = True
        # No circular check: the records are flat dicts built here.
        self._encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode

    def begin(self, run: RunInfo) -> None:
        self._out.write('{"findings": [')

    def session(self, reported: ReportedSession) -> None:
        if not reported.findings:
            return
        encode = self._encode
        names = RULE_CODES
        parts: list[str] = []
        for finding, false_positive in zip(
            reported.findings, reported.false_positive, strict=True
        ):
            record = finding.to_dict()
            record["rule_name"] = names.get(finding.rule, finding.rule)
            record["false_positive"] = false_positive
            parts.append(encode(record))
        lead = "\n" if self._first else ",\n"
        self._first = False
        self._out.write(lead + ",\n".join(parts))

    def finish(self, summary: Summary) -> None:
        tail = "]" if self._first else "\n]"
        self._out.write(f'{tail}, "summary": {self._encode(summary.to_dict())}}}\n')
