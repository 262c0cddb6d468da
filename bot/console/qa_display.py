"""How the QA pages show a finding on its line: the flagged runs of text, and the
findings of a session grouped by the line they are about."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from bot.console.qa_data import ShownFinding
from compliance.masking import mask_pii
from compliance.model import Line


def highlight(line: Line, findings: Sequence[ShownFinding]) -> list[tuple[str, bool]]:
    """The line's text (personal numbers masked) cut into (piece, flagged) runs, each
    finding's span flagged; overlapping spans merge."""
    text = mask_pii(line.text or "")
    marks = sorted(
        shown.finding.span
        for shown in findings
        if shown.finding.span is not None and 0 <= shown.finding.span[0] < shown.finding.span[1]
    )
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in marks:
        start = max(start, cursor)
        if start >= end or end > len(text):
            continue
        if start > cursor:
            pieces.append((text[cursor:start], False))
        pieces.append((text[start:end], True))
        cursor = end
    if cursor < len(text) or not pieces:
        pieces.append((text[cursor:], False))
    return pieces


def group_by_index(findings: Iterable[ShownFinding]) -> Mapping[int | None, list[ShownFinding]]:
    out: dict[int | None, list[ShownFinding]] = defaultdict(list)
    for shown in findings:
        out[shown.finding.index].append(shown)
    return out
