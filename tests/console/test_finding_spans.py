"""A stored finding's highlight: the span saved with it, else the evidence found again."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.console.qa_data import _to_finding
from compliance.model import Line, Session
from storage.models import Finding as FindingRow
from storage.models import Severity

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TEXT = "你先重启，你再看看"  # 你 twice; the rule flagged the second


def _session(text: str = TEXT) -> Session:
    line = Line("S1", 0, AT, "agent", "web", "1818", "张三", text)
    return Session(id="S1", channel="web", lines=(line,))


def _row(start: int | None, end: int | None) -> FindingRow:
    return FindingRow(
        session="S1",
        rule="LNG006",
        severity=Severity.WARNING,
        index=0,
        message="称呼客户“你”",
        evidence="你",
        span_start=start,
        span_end=end,
        inferred=False,
    )


def test_the_stored_span_marks_the_occurrence_the_rule_meant() -> None:
    assert _to_finding(_row(5, 6), _session()).span == (5, 6)


def test_rows_saved_without_a_span_find_the_evidence_again() -> None:
    assert _to_finding(_row(None, None), _session()).span == (0, 1)


def test_a_span_that_no_longer_marks_the_evidence_is_not_trusted() -> None:
    edited = _session("您先重启，你再看看")
    assert _to_finding(_row(0, 1), edited).span == (5, 6)
    assert _to_finding(_row(0, 1), _session("没有了")).span is None
