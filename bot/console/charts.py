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

_LABEL_W = 230
_VALUE_W = 40
_BAR_H = 24
_GAP = 6
_WIDTH = 520
_LABEL_CHARS = 17
# Column charts (one column per day).
_COL_H = 160
_COL_TOP = 18
_COL_BOTTOM = 22
_COL_LEFT = 8


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
        label = bar.label if len(bar.label) <= _LABEL_CHARS else bar.label[: _LABEL_CHARS - 1] + "…"
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


def column_chart(title: str, bars: Sequence[Bar], *, empty: str = "没有数据") -> Markup:
    """A column chart (one column per bar, e.g. per day) as an ``<svg>`` element; with
    many columns only every n-th label is written, every value stays in its tooltip."""
    if not bars:
        return Markup('<p class="muted">{}</p>').format(empty)
    top = max(bar.value for bar in bars) or 1.0
    plot_w = _WIDTH - 2 * _COL_LEFT
    step = plot_w / len(bars)
    width = max(2.0, step * 0.7)
    label_every = max(1, round(len(bars) / 10))
    height = _COL_TOP + _COL_H + _COL_BOTTOM
    base = _COL_TOP + _COL_H
    parts = [
        Markup(
            '<svg role="img" aria-label="{t}" viewBox="0 0 {w} {h}" '
            'xmlns="http://www.w3.org/2000/svg"><title>{t}</title>'
        ).format(t=title, w=_WIDTH, h=height),
        Markup('<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"/>').format(
            l=_COL_LEFT, r=_WIDTH - _COL_LEFT, b=base
        ),
    ]
    for i, bar in enumerate(bars):
        x = _COL_LEFT + i * step + (step - width) / 2
        h = _COL_H * bar.value / top if bar.value > 0 else 0.0
        centre = x + width / 2
        parts.append(
            Markup(
                '<g><rect class="bar{alarm}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                'height="{h:.1f}"><title>{label}：{value}</title></rect>'
            ).format(
                alarm=" bar--error" if bar.alarm else "",
                x=x,
                y=base - h,
                w=width,
                h=h,
                label=bar.label,
                value=_number(bar.value),
            )
        )
        if len(bars) <= 16 or bar.value == top:
            parts.append(
                Markup('<text x="{cx:.1f}" y="{y:.1f}" text-anchor="middle">{value}</text>').format(
                    cx=centre, y=base - h - 4, value=_number(bar.value)
                )
            )
        if i % label_every == 0:
            parts.append(
                Markup('<text x="{cx:.1f}" y="{y}" text-anchor="middle">{label}</text>').format(
                    cx=centre, y=base + 16, label=bar.label
                )
            )
        parts.append(Markup("</g>"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
