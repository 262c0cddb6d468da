"""Small inline SVG bar charts for the QA and manager dashboards.

Server-rendered so the pages need no chart library and the charts read the
same with JavaScript off; each chart carries a ``<title>`` and an
``aria-label`` and every bar its value as text, so a screen reader (and a
reader of a black-and-white printout) gets the numbers, not only the shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

_LABEL_W = 150
_VALUE_W = 48
_BAR_H = 22
_GAP = 6
_WIDTH = 520


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its value, and whether to draw it in the alarm colour."""

    label: str
    value: float
    alarm: bool = False


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def bar_chart(title: str, bars: Sequence[Bar], *, empty: str = "没有数据") -> Markup:
    """A horizontal bar chart as an ``<svg>`` element (escaped, safe to embed)."""
    if not bars:
        return Markup('<p class="muted">{}</p>').format(empty)
    top = max(bar.value for bar in bars) or 1.0
    plot_w = _WIDTH - _LABEL_W - _VALUE_W
    height = len(bars) * (_BAR_H + _GAP) + _GAP
    parts = [
        Markup(
            '<svg role="img" aria-label="{t}" viewBox="0 0 {w} {h}" '
            'xmlns="http://www.w3.org/2000/svg"><title>{t}</title>'
        ).format(t=title, w=_WIDTH, h=height),
        Markup('<line class="axis" x1="{x}" y1="0" x2="{x}" y2="{h}"/>').format(
            x=_LABEL_W, h=height
        ),
    ]
    for i, bar in enumerate(bars):
        y = _GAP + i * (_BAR_H + _GAP)
        width = max(1.0, plot_w * bar.value / top) if bar.value > 0 else 0.0
        label = bar.label if len(bar.label) <= 14 else bar.label[:13] + "…"
        parts.append(
            Markup(
                '<g><text x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
                '<rect class="bar{alarm}" x="{x}" y="{y}" width="{w:.1f}" height="{bh}">'
                "<title>{full}：{value}</title></rect>"
                '<text x="{vx:.1f}" y="{ty}">{value}</text></g>'
            ).format(
                lx=_LABEL_W - 6,
                ty=y + _BAR_H - 6,
                label=label,
                alarm=" bar--error" if bar.alarm else "",
                x=_LABEL_W,
                y=y,
                w=width,
                bh=_BAR_H,
                full=bar.label,
                value=_number(bar.value),
                vx=_LABEL_W + width + 4,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
