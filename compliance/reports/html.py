"""``--format html``: one self-contained page for QA (Chinese UI).

Totals, a per-engineer and a per-rule table, two bar charts (findings by code,
findings by day) drawn as inline SVG, and every flagged session's transcript
with the offending text marked (``<mark>``) and the compliant line the rule
suggests.  Everything is in the one file — inline CSS, inline SVG, no script, no
external link — so it can be mailed or archived as it is.  The page is rendered
by jinja2 with autoescaping on: every transcript text is customer or agent input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from compliance.masking import mask_pii
from compliance.model import Finding, Line
from compliance.reports.summary import (
    RULE_TITLES,
    SEVERITY_LABELS,
    EngineerNames,
    ReportedSession,
    RuleCount,
    RunInfo,
    Summary,
    engineer_label,
    local_time,
)
from scripts_library import EVENT_LABELS

__all__ = ["HtmlReport", "Segment", "mark_segments"]

TEMPLATES = Path(__file__).with_name("templates")

ROLE_LABELS: dict[str, str] = {"customer": "客户", "agent": "工程师", "event": "事件"}
SEVERITY_COLOURS: dict[str, str] = {"error": "#c62828", "warning": "#ef8f00", "info": "#1565c0"}

# Chart geometry (SVG user units = CSS pixels).
_CODE_LABEL_W = 230
_CODE_BAR_MAX = 430
_CODE_ROW_H = 24
_DAY_PLOT_W = 880
_DAY_PLOT_H = 180
_DAY_LEFT = 40
_DAY_MAX_LABELS = 14


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a line's text; marked pieces carry the codes that point at them."""

    text: str
    codes: tuple[str, ...] = ()

    @property
    def marked(self) -> bool:
        return bool(self.codes)


def mark_segments(text: str, spans: Iterable[tuple[tuple[int, int], str]]) -> list[Segment]:
    """Split `text` into plain and marked segments; overlapping spans merge.

    `spans` are ``((start, end), code)``; a span outside the text is ignored (a
    finding about a text that has changed since is not worth a crash).
    """
    valid = sorted(
        (start, end, code) for (start, end), code in spans if 0 <= start < end <= len(text)
    )
    merged: list[tuple[int, int, list[str]]] = []
    for start, end, code in valid:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), [*last[2], code])
        else:
            merged.append((start, end, [code]))
    segments: list[Segment] = []
    position = 0
    for start, end, codes in merged:
        if start > position:
            segments.append(Segment(text[position:start]))
        segments.append(Segment(text[start:end], tuple(dict.fromkeys(codes))))
        position = end
    if position < len(text) or not segments:
        segments.append(Segment(text[position:]))
    return segments


@dataclass(frozen=True, slots=True)
class _FindingView:
    code: str
    title: str
    severity: str
    severity_label: str
    position: str
    message: str
    evidence: str | None
    suggestion: str | None
    inferred: bool
    false_positive: bool
    anchor: str | None


@dataclass(frozen=True, slots=True)
class _LineView:
    number: int
    anchor: str
    time: str
    role: str
    role_label: str
    who: str
    segments: list[Segment]
    event: str | None
    findings: list[_FindingView]


@dataclass(frozen=True, slots=True)
class _SessionView:
    id: str
    anchor: str
    channel: str
    started: str
    engineers: str
    score: int
    fatal: tuple[str, ...]
    rating: str | None
    findings: list[_FindingView]
    lines: list[_LineView]


def _anchor(session_id: str, index: int | None = None) -> str:
    # Session ids are free text; keep anchors to safe characters, unique by position.
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in session_id)
    base = f"s-{safe}"
    return base if index is None else f"{base}-{index}"


class HtmlReport:
    """Collects the flagged sessions and renders the page at the end."""

    def __init__(self, stream: TextIO) -> None:
        self._out = stream
        self._run: RunInfo | None = None
        self._names: EngineerNames | None = None
        self._sessions: list[_SessionView] = []
        self._anchors: set[str] = set()
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def begin(self, run: RunInfo) -> None:
        self._run = run
        self._names = EngineerNames(run.policy)

    def _unique_anchor(self, session_id: str) -> str:
        anchor = base = _anchor(session_id)
        n = 1
        while anchor in self._anchors:
            n += 1
            anchor = f"{base}-{n}"
        self._anchors.add(anchor)
        return anchor

    def session(self, reported: ReportedSession) -> None:
        run, names = self._run, self._names
        if run is None or names is None:
            raise RuntimeError("HtmlReport.session() before begin()")
        names.learn(reported.session)
        if not reported.findings:
            return
        session = reported.session
        anchor = self._unique_anchor(session.id)
        by_line: dict[int, list[tuple[Finding, _FindingView]]] = {}
        views: list[_FindingView] = []
        for finding, false_positive in zip(reported.findings, reported.false_positive, strict=True):
            view = _FindingView(
                code=finding.rule,
                title=RULE_TITLES.get(finding.rule, finding.rule),
                severity=finding.severity,
                severity_label=SEVERITY_LABELS.get(finding.severity, finding.severity),
                position="整个会话" if finding.index is None else f"第{finding.index + 1}条",
                message=finding.message,
                evidence=finding.evidence,
                suggestion=finding.suggestion,
                inferred=finding.inferred,
                false_positive=false_positive,
                anchor=None if finding.index is None else f"{anchor}-{finding.index}",
            )
            views.append(view)
            if finding.index is not None:
                by_line.setdefault(finding.index, []).append((finding, view))
        lines = [
            self._line_view(line, anchor, by_line.get(line.index, ())) for line in session.lines
        ]
        score = reported.score
        channel = run.policy.channels.get(session.channel)
        self._sessions.append(
            _SessionView(
                id=session.id,
                anchor=anchor,
                channel=channel.label if channel else session.channel,
                started=local_time(session.lines[0].ts) if session.lines else "",
                engineers="、".join(engineer_label(e, names(e)) for e in score.engineers) or "无",
                score=score.points,
                fatal=score.score.fatal,
                rating=score.rating,
                findings=views,
                lines=lines,
            )
        )

    def _line_view(
        self, line: Line, anchor: str, here: Sequence[tuple[Finding, _FindingView]]
    ) -> _LineView:
        names = self._names
        text = mask_pii(line.text or "")
        spans = [(f.span, f.rule) for f, _view in here if f.span is not None]
        if line.role == "agent":
            who = engineer_label(
                line.sender, line.name or (names(line.sender) if names and line.sender else None)
            )
        elif line.role == "customer":
            who = mask_pii(line.sender or "")
        else:
            # An event's actor is a 工号, "bot" or "system".
            actor = line.sender or ""
            name = names(actor) if names and actor else None
            who = engineer_label(actor, name) if name else actor
        event = None
        if line.role == "event" and line.event:
            event = EVENT_LABELS.get(line.event, line.event)
            if line.rating:
                event += f"：{line.rating}"
        return _LineView(
            number=line.index + 1,
            anchor=f"{anchor}-{line.index}",
            time=local_time(line.ts),
            role=line.role,
            role_label=ROLE_LABELS.get(line.role, line.role),
            who=who,
            segments=mark_segments(text, spans),
            event=event,
            findings=[view for _f, view in here],
        )

    def finish(self, summary: Summary) -> None:
        template = self._env.get_template("report.html.j2")
        context = {
            "run": summary.run,
            "summary": summary,
            "severity_labels": SEVERITY_LABELS,
            "severity_colours": SEVERITY_COLOURS,
            "generated": local_time(summary.run.started_at),
            "code_chart": _code_chart(summary.by_rule),
            "day_chart": _day_chart(summary.by_day),
            "engineer_months": summary.engineer_months,
            "sessions": self._sessions,
            "rule_titles": RULE_TITLES,
        }
        for chunk in template.generate(**context):
            self._out.write(chunk)


def _code_chart(rules: Sequence[RuleCount]) -> dict[str, Any]:
    """Horizontal bars, one per rule code, longest = the largest count."""
    top = max((r.count for r in rules), default=0)
    bars = []
    for i, rule in enumerate(rules):
        width = round(_CODE_BAR_MAX * rule.count / top, 1) if top else 0
        bars.append(
            {
                "y": i * _CODE_ROW_H,
                "label": f"{rule.code} {rule.title}",
                "width": max(width, 1.0),
                "count": rule.count,
                "colour": SEVERITY_COLOURS.get(rule.severity, "#555"),
            }
        )
    return {
        "bars": bars,
        "label_w": _CODE_LABEL_W,
        "row_h": _CODE_ROW_H,
        "width": _CODE_LABEL_W + _CODE_BAR_MAX + 60,
        "height": max(len(bars) * _CODE_ROW_H, _CODE_ROW_H),
    }


def _day_chart(days: Sequence[tuple[date, int]]) -> dict[str, Any]:
    """Vertical bars, one per calendar day from the first to the last day with findings."""
    if not days:
        return {"bars": [], "labels": [], "width": 0, "height": 0, "top": 0}
    first, last = days[0][0], days[-1][0]
    counts = dict(days)
    span = (last - first).days + 1
    slot = _DAY_PLOT_W / span
    bar_w = max(1.0, min(28.0, slot * 0.8))
    top = max(counts.values())
    every = max(1, -(-span // _DAY_MAX_LABELS))  # ceil: at most ~14 date labels
    bars = []
    labels = []
    for i in range(span):
        day = date.fromordinal(first.toordinal() + i)
        count = counts.get(day, 0)
        height = round(_DAY_PLOT_H * count / top, 1) if top else 0
        x = round(_DAY_LEFT + i * slot + (slot - bar_w) / 2, 1)
        if count:
            bars.append(
                {
                    "x": x,
                    "y": round(_DAY_PLOT_H - height + 10, 1),
                    "w": round(bar_w, 1),
                    "h": height,
                    "day": day.isoformat(),
                    "count": count,
                }
            )
        if i % every == 0:
            labels.append({"x": round(x + bar_w / 2, 1), "text": day.strftime("%m-%d")})
    return {
        "bars": bars,
        "labels": labels,
        "width": _DAY_LEFT + _DAY_PLOT_W + 10,
        "height": _DAY_PLOT_H + 40,
        "plot_h": _DAY_PLOT_H,
        "left": _DAY_LEFT,
        "top": top,
    }
