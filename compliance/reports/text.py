"""``--format text``: linter-style lines, grouped by session, then a summary block.

Each finding is one line ``SESSION:N CODE message`` (``SESSION:-`` for a
finding about the whole session), the sessions separated by a blank line, the
way flake8 and ruff print files.  ``N`` counts the session's lines from 1, like a
linter's line numbers and like the console, the HTML and the XLSX report (第N条);
the JSON report's ``index`` stays 0-based (SPEC §3).  Colour (red errors, yellow warnings) only when
the caller says the output is a terminal.  An incomplete run says so at the top
and again at the bottom, so nobody mistakes it for a clean bill.
"""

from __future__ import annotations

from typing import TextIO

from compliance.reports.summary import (
    SEVERITY_LABELS,
    ReportedSession,
    RunInfo,
    Summary,
    engineer_label,
)

__all__ = ["TextReport"]

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_SEVERITY_COLOURS = {"error": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_ALERT = "\x1b[1;41;97m"

# How many bad input lines the banner repeats (all of them went to stderr already).
_ERRORS_SHOWN = 20


class TextReport:
    """Writes the text report to a stream as sessions come."""

    def __init__(self, stream: TextIO, *, color: bool = False) -> None:
        self._out = stream
        self._color = color
        self._printed_any = False

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self._color else text

    def _incomplete_banner(self, run: RunInfo) -> list[str]:
        count = len(run.input_errors)
        lines = [
            self._paint(
                f"报告不完整：有 {count} 行输入无法读取，以下结果只包含能读取的会话。", _ALERT
            )
        ]
        lines.extend(f"  {error}" for error in run.input_errors[:_ERRORS_SHOWN])
        if count > _ERRORS_SHOWN:
            lines.append(f"  …… 另有 {count - _ERRORS_SHOWN} 行，见标准错误输出")
        return lines

    def begin(self, run: RunInfo) -> None:
        if not run.complete:
            self._out.write("\n".join(self._incomplete_banner(run)) + "\n\n")

    def session(self, reported: ReportedSession) -> None:
        if not reported.findings:
            return
        lines: list[str] = []
        if self._printed_any:
            lines.append("")
        self._printed_any = True
        session_id = reported.session.id
        for finding, false_positive in zip(reported.findings, reported.false_positive, strict=True):
            where = f"{session_id}:{'-' if finding.index is None else finding.index + 1}"
            code = finding.rule
            message = finding.message
            if false_positive:
                message += "（已标记误报，不计分）"
            if self._color:
                colour = _DIM if false_positive else _SEVERITY_COLOURS[finding.severity]
                where = self._paint(where, _BOLD)
                code = self._paint(code, colour)
            lines.append(f"{where} {code} {message}")
        self._out.write("\n".join(lines) + "\n")

    def finish(self, summary: Summary) -> None:
        run = summary.run
        sev = summary.by_severity
        lines = ["" if self._printed_any else "未发现问题。", self._paint("—— 汇总 ——", _BOLD)]
        lines.append(f"策略：{run.policy_name}")
        lines.append(
            f"会话 {summary.sessions} 个（有问题 {summary.flagged_sessions} 个），"
            f"消息与事件 {summary.lines} 条"
        )
        counts = " · ".join(f"{SEVERITY_LABELS[s]} {sev.get(s, 0)}" for s in SEVERITY_LABELS)
        fp = f"（另有 {summary.false_positives} 条已标记误报）" if summary.false_positives else ""
        lines.append(f"问题 {summary.findings} 条：{counts}{fp}")
        if summary.average_score is not None:
            lines.append(f"平均得分 {summary.average_score:.1f}")
        if summary.by_rule:
            lines.append("按规则：")
            width = max(len(r.name) for r in summary.by_rule)
            for rule in summary.by_rule:
                label = SEVERITY_LABELS.get(rule.severity, rule.severity)
                lines.append(
                    f"  {rule.code} {rule.name:<{width}} {label} {rule.count:>6}  {rule.title}"
                )
        if summary.engineers:
            lines.append("按工程师：")
            for engineer in summary.engineers:
                esev = engineer.findings_by_severity
                average = (
                    f"{engineer.average_score:.1f}" if engineer.average_score is not None else "-"
                )
                satisfaction = (
                    f"  满意度 {engineer.satisfaction_average:.2f}（{engineer.rated} 次评价）"
                    if engineer.satisfaction_average is not None
                    else ""
                )
                lines.append(
                    f"  {engineer_label(engineer.engineer, engineer.name)}  "
                    f"会话 {engineer.sessions}  平均分 {average}  "
                    f"错误 {esev['error']} 警告 {esev['warning']} 提示 {esev['info']}"
                    f"{satisfaction}"
                )
        if not run.complete:
            lines.append("")
            lines.extend(self._incomplete_banner(run))
        self._out.write("\n".join(lines) + "\n")
