"""``--format xlsx``: a workbook for QA (openpyxl), written to ``--out``.

Sheets: 问题明细 (one row per finding), 工程师月度 (per engineer and month:
sessions, average score, satisfaction, findings by severity and by code),
会话得分 (per session), 汇总 (the run: policy, sources, totals, and — when some
input could not be read — the warning and every bad line).  Every table has
Chinese headers, an auto-filter, a frozen header row and column widths that fit
Chinese text.  ``位置`` is the line's position counted from 1, as the findings'
messages (第N条) and the HTML report count; the JSON report's ``index`` is the same
position from 0.

The workbook is written in openpyxl's write-only mode: findings go to disk as
they come, so a large run does not hold a worksheet of cell objects in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from compliance.calendar import SHANGHAI
from compliance.codes import RULE_CODES
from compliance.reports.summary import (
    RULE_TITLES,
    SEVERITY_LABELS,
    EngineerNames,
    ReportedSession,
    RunInfo,
    Summary,
    engineer_label,
    local_time,
)

__all__ = ["ENGINEER_HEADERS", "FINDING_HEADERS", "SCORE_HEADERS", "XlsxReport"]

FINDING_HEADERS: tuple[str, ...] = (
    "会话",
    "规则",
    "级别",
    "时间",
    "位置",
    "工程师",
    "说明",
    "证据",
    "建议",
    "规则名称",
    "推断",
    "误报",
    # The engineer sent the line despite a pre-send warning: why (QA reads it here).
    "确认发送原因",
)
_FINDING_WIDTHS = (18, 9, 7, 20, 6, 16, 60, 24, 60, 22, 6, 6, 40)

ENGINEER_HEADERS: tuple[str, ...] = (
    "工号",
    "工程师",
    "月份",
    "会话数",
    "平均分",
    "满意度均分",
    "评价数",
    "错误",
    "警告",
    "提示",
)
_ENGINEER_WIDTHS = (10, 12, 10, 8, 8, 11, 8, 7, 7, 7)

SCORE_HEADERS: tuple[str, ...] = (
    "会话",
    "工程师",
    "日期",
    "得分",
    "扣分",
    "致命项",
    "问题数",
    "误报数",
    "满意度",
)
_SCORE_WIDTHS = (20, 16, 12, 7, 7, 16, 8, 8, 8)

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")
_ALERT_FONT = Font(bold=True, color="C00000", size=12)
_WRAP = Alignment(wrap_text=True, vertical="top")
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


class XlsxReport:
    """Builds the workbook while sessions are checked and saves it at the end."""

    def __init__(self, path: Path, override_reasons: Mapping[int, str] | None = None) -> None:
        self._path = path
        # Stored lines sent despite a pre-send warning: message row id → the reason.
        self.override_reasons: Mapping[int, str] = dict(override_reasons or {})
        self._book = Workbook(write_only=True)
        self._findings = self._book.create_sheet("问题明细")
        self._engineers = self._book.create_sheet("工程师月度")
        self._scores = self._book.create_sheet("会话得分")
        self._overview = self._book.create_sheet("汇总")
        self._finding_rows = 0
        self._names: EngineerNames | None = None

    # -- cells ------------------------------------------------------------------

    def _cell(self, sheet: WriteOnlyWorksheet, value: Any) -> Any:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
            if value.startswith("="):
                # openpyxl would store customer text that starts with "=" as a formula.
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                return cell
            return value
        if isinstance(value, datetime):
            cell = WriteOnlyCell(sheet, value=value.astimezone(SHANGHAI).replace(tzinfo=None))
            cell.number_format = _TIME_FORMAT
            return cell
        return value

    def _row(self, sheet: WriteOnlyWorksheet, values: Iterable[Any]) -> None:
        sheet.append([self._cell(sheet, v) for v in values])

    def _start_table(
        self, sheet: WriteOnlyWorksheet, headers: Sequence[str], widths: Sequence[int]
    ) -> None:
        # Widths and the frozen pane go into the sheet's XML before its rows, so
        # they must be set before the first append in write-only mode.
        for i, width in enumerate(widths, 1):
            sheet.column_dimensions[get_column_letter(i)].width = width
        sheet.freeze_panes = "A2"
        header_cells = []
        for title in headers:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font = _HEADER_FONT
            cell.fill = _HEADER_FILL
            header_cells.append(cell)
        sheet.append(header_cells)

    @staticmethod
    def _filter(sheet: WriteOnlyWorksheet, columns: int, rows: int) -> None:
        sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows + 1}"

    # -- writer protocol ----------------------------------------------------------

    def begin(self, run: RunInfo) -> None:
        self._names = EngineerNames(run.policy)
        self._start_table(self._findings, FINDING_HEADERS, _FINDING_WIDTHS)

    def session(self, reported: ReportedSession) -> None:
        names = self._names
        if names is None:
            raise RuntimeError("XlsxReport.session() before begin()")
        names.learn(reported.session)
        overrides = {
            line.index: self.override_reasons[line.line_no]
            for line in reported.session.lines
            if line.source == "db:messages"
            and line.line_no is not None
            and line.line_no in self.override_reasons
        }
        for finding, false_positive in zip(reported.findings, reported.false_positive, strict=True):
            agent = finding.agent
            self._row(
                self._findings,
                (
                    finding.session,
                    finding.rule,
                    SEVERITY_LABELS.get(finding.severity, finding.severity),
                    finding.ts,
                    None if finding.index is None else finding.index + 1,
                    engineer_label(agent, names(agent) if agent else None),
                    finding.message,
                    finding.evidence,
                    finding.suggestion,
                    RULE_TITLES.get(finding.rule, RULE_CODES.get(finding.rule, "")),
                    "是" if finding.inferred else "",
                    "是" if false_positive else "",
                    overrides.get(finding.index) if finding.index is not None else None,
                ),
            )
            self._finding_rows += 1

    def finish(self, summary: Summary) -> None:
        self._filter(self._findings, len(FINDING_HEADERS), self._finding_rows)
        self._write_engineers(summary)
        self._write_scores(summary)
        self._write_overview(summary)
        self._book.save(self._path)

    # -- the other sheets -------------------------------------------------------------

    def _write_engineers(self, summary: Summary) -> None:
        codes = sorted({code for m in summary.engineer_months for code in m.findings_by_code})
        headers = (*ENGINEER_HEADERS, *codes)
        self._start_table(self._engineers, headers, (*_ENGINEER_WIDTHS, *(9 for _ in codes)))
        for month in summary.engineer_months:
            sev = month.findings_by_severity
            self._row(
                self._engineers,
                (
                    month.engineer,
                    month.name or "",
                    month.month,
                    month.sessions,
                    round(month.average_score, 1),
                    None
                    if month.satisfaction_average is None
                    else round(month.satisfaction_average, 2),
                    month.rated,
                    sev.get("error", 0),
                    sev.get("warning", 0),
                    sev.get("info", 0),
                    *(month.findings_by_code.get(code, 0) for code in codes),
                ),
            )
        self._filter(self._engineers, len(headers), len(summary.engineer_months))

    def _write_scores(self, summary: Summary) -> None:
        self._start_table(self._scores, SCORE_HEADERS, _SCORE_WIDTHS)
        names = self._names
        for score in summary.scores:
            engineer = score.engineer
            name = names(engineer) if names and engineer else None
            self._row(
                self._scores,
                (
                    score.session,
                    engineer_label(engineer, name),
                    score.day,
                    score.points,
                    score.score.deducted,
                    "、".join(score.score.fatal),
                    score.findings,
                    score.false_positives,
                    score.rating or "",
                ),
            )
        self._filter(self._scores, len(SCORE_HEADERS), len(summary.scores))

    def _write_overview(self, summary: Summary) -> None:
        sheet = self._overview
        run = summary.run
        sheet.column_dimensions["A"].width = 18
        sheet.column_dimensions["B"].width = 90
        if not run.complete:
            alert = WriteOnlyCell(
                sheet,
                value=f"报告不完整：有 {len(run.input_errors)} 行输入无法读取，"
                "以下结果只包含能读取的会话。",
            )
            alert.font = _ALERT_FONT
            sheet.append([alert])
        sev = summary.by_severity
        rows: list[tuple[Any, ...]] = [
            ("策略", run.policy_name),
            ("来源", "；".join(run.sources)),
            ("生成时间", local_time(run.started_at)),
            ("完整", "是" if run.complete else "否"),
            ("会话数", summary.sessions),
            ("有问题的会话", summary.flagged_sessions),
            ("问题数", summary.findings),
            *((f"其中{SEVERITY_LABELS[s]}", sev.get(s, 0)) for s in SEVERITY_LABELS),
            ("已标记误报", summary.false_positives),
            (
                "平均得分",
                None if summary.average_score is None else round(summary.average_score, 1),
            ),
            ("位置", "会话中的第几条（从 1 起）"),
        ]
        for row in rows:
            self._row(sheet, row)
        if summary.by_rule:
            self._row(sheet, ())
            self._row(sheet, ("按规则", "数量"))
            for rule in summary.by_rule:
                self._row(sheet, (f"{rule.code} {rule.title}", rule.count))
        if run.input_errors:
            self._row(sheet, ())
            self._row(sheet, ("无法读取的输入",))
            for error in run.input_errors:
                cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", error))
                cell.alignment = _WRAP
                sheet.append(["", cell])
