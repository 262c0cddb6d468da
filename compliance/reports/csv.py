"""``--format csv``: one row per finding, for Excel and for scripts.

UTF-8 with a byte-order mark, because Excel opens a BOM-less UTF-8 CSV as the
local ANSI code page and shows the Chinese as mojibake.  Headers are the same
Chinese words as the XLSX report.  A cell that Excel would take for a formula
(starting with ``=``, ``+``, ``-`` or ``@``: transcript text is typed by
customers) gets a leading apostrophe, the usual CSV-injection guard.  No summary
rows: a CSV is one table.
"""

from __future__ import annotations

import csv
from typing import TextIO

from compliance.codes import RULE_CODES
from compliance.reports.summary import (
    SEVERITY_LABELS,
    EngineerNames,
    ReportedSession,
    RunInfo,
    Summary,
)

__all__ = ["CSV_HEADERS", "CsvReport"]

CSV_HEADERS: tuple[str, ...] = (
    "会话",
    "规则",
    "规则名称",
    "级别",
    "时间",
    "位置",
    "工号",
    "工程师",
    "说明",
    "证据",
    "建议",
    "推断",
    "误报",
)

_FORMULA_START = ("=", "+", "-", "@")


def _cell(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


class CsvReport:
    """Streams one CSV row per finding.

    `位置` counts the session's lines from 1, as the findings' messages (第N条), the
    XLSX and the HTML report do (the JSON report's ``index`` counts from 0; empty
    for a finding about the whole session); `时间` is ISO 8601 with its offset.
    """

    def __init__(self, stream: TextIO) -> None:
        self._out = stream
        self._writer = csv.writer(stream, lineterminator="\r\n")
        self._names: EngineerNames | None = None

    def begin(self, run: RunInfo) -> None:
        self._names = EngineerNames(run.policy)
        self._out.write("\ufeff")
        self._writer.writerow(CSV_HEADERS)

    def session(self, reported: ReportedSession) -> None:
        names = self._names
        if names is None:
            raise RuntimeError("CsvReport.session() before begin()")
        names.learn(reported.session)
        for finding, false_positive in zip(reported.findings, reported.false_positive, strict=True):
            agent = finding.agent or ""
            name = names(agent) if agent else None
            self._writer.writerow(
                (
                    _cell(finding.session),
                    finding.rule,
                    RULE_CODES.get(finding.rule, ""),
                    SEVERITY_LABELS.get(finding.severity, finding.severity),
                    finding.ts.isoformat() if finding.ts else "",
                    "" if finding.index is None else finding.index + 1,
                    _cell(agent),
                    _cell(name),
                    _cell(finding.message),
                    _cell(finding.evidence),
                    _cell(finding.suggestion),
                    "是" if finding.inferred else "",
                    "是" if false_positive else "",
                )
            )

    def finish(self, summary: Summary) -> None:
        self._out.flush()
