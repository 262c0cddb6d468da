"""Scoring: exact session scores and per-engineer monthly figures from hand-made findings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from compliance.model import Finding, Line, Session, Severity
from compliance.policy import Policy, load_policy
from compliance.scoring import (
    EngineerTally,
    Score,
    engineer_months,
    finding_key,
    score_findings,
    score_session,
    session_day,
    session_rating,
)

CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def line(session: str, index: int, ts: datetime, role: str, **kw: object) -> Line:
    return Line(session=session, index=index, ts=ts, role=role, channel="wechat", **kw)  # type: ignore[arg-type]


def make_session(
    session_id: str,
    start: datetime,
    agents: tuple[str, ...] = ("1818",),
    rating: str | None = None,
) -> Session:
    lines = [line(session_id, 0, start, "customer", sender="oC", text="开不了机")]
    for offset, agent in enumerate(agents, 1):
        lines.append(
            line(
                session_id,
                offset,
                start + timedelta(seconds=20 * offset),
                "agent",
                sender=agent,
                text="您好",
            )
        )
    if rating:
        lines.append(
            line(
                session_id,
                len(lines),
                start + timedelta(minutes=30),
                "event",
                event="satisfaction_rated",
                rating=rating,
            )
        )
    return Session(id=session_id, channel="wechat", lines=tuple(lines))


def finding(
    session: str,
    rule: str,
    severity: Severity = "error",
    index: int | None = 1,
    agent: str | None = "1818",
    evidence: str | None = None,
) -> Finding:
    return Finding(
        session=session,
        rule=rule,
        severity=severity,
        message="m",
        index=index,
        agent=agent,
        evidence=evidence,
    )


def test_deductions_by_severity(policy: Policy) -> None:
    # pusai: start 100, error 10, warning 3, info 0.
    findings = [
        finding("S", "SCR001"),
        finding("S", "SLA001"),
        finding("S", "LNG006", "warning"),
        finding("S", "LNG007", "warning"),
        finding("S", "SCR007", "info"),
    ]
    assert score_findings(findings, policy.scoring) == Score(points=74, deducted=26, fatal=())


def test_score_is_floored_at_zero(policy: Policy) -> None:
    findings = [finding("S", "SLA002", index=i) for i in range(11)]
    assert score_findings(findings, policy.scoring) == Score(points=0, deducted=110, fatal=())


def test_a_fatal_code_sets_the_session_to_zero(policy: Policy) -> None:
    assert policy.scoring.fatal == ("LNG001", "LNG002", "LNG003")
    findings = [finding("S", "LNG003"), finding("S", "LNG006", "warning"), finding("S", "LNG001")]
    assert score_findings(findings, policy.scoring) == Score(
        points=0, deducted=23, fatal=("LNG001", "LNG003")
    )


def test_scoring_weights_come_from_the_policy(policy: Policy) -> None:
    scoring = dataclasses.replace(
        policy.scoring, start=50, deduct_error=20, deduct_warning=5, deduct_info=1, fatal=()
    )
    findings = [
        finding("S", "LNG001"),
        finding("S", "LNG006", "warning"),
        finding("S", "X", "info"),
    ]
    assert score_findings(findings, scoring) == Score(points=24, deducted=26, fatal=())


def test_no_findings_is_full_marks(policy: Policy) -> None:
    assert score_findings([], policy.scoring) == Score(points=100, deducted=0, fatal=())


def test_false_positives_are_excluded_from_the_score(policy: Policy) -> None:
    session = make_session("S1", datetime(2026, 11, 23, 9, 31, tzinfo=CST))
    wrong = finding("S1", "LNG002", evidence="滚")
    right = finding("S1", "LNG006", "warning", evidence="你")
    scored = score_session(session, [wrong, right], policy, false_positives={finding_key(wrong)})
    assert scored.points == 97
    assert scored.score.fatal == ()
    assert (scored.findings, scored.false_positives) == (1, 1)


def test_session_attribution_day_and_rating(policy: Policy) -> None:
    # 23:50 UTC on the 22nd is 07:50 on the 23rd in Shanghai.
    start = datetime(2026, 11, 22, 23, 50, tzinfo=UTC)
    session = make_session("S2", start, agents=("2046", "1818"), rating="一般")
    assert session_day(session) == date(2026, 11, 23)
    assert session_rating(session) == "一般"
    scored = score_session(session, [], policy)
    assert scored.engineers == ("2046", "1818")
    assert scored.engineer == "2046"
    assert scored.month == "2026-11"
    assert (scored.rating, scored.rating_points) == ("一般", 2)
    # The assigned engineer (from the ticket) leads even if someone else spoke first.
    assigned = score_session(session, [], policy, engineer="1818")
    assert assigned.engineers == ("1818", "2046")


def test_the_last_rating_counts() -> None:
    session = make_session("S", datetime(2026, 11, 23, 9, 0, tzinfo=CST), rating="不满意")
    later = line(
        "S",
        9,
        datetime(2026, 11, 23, 11, 0, tzinfo=CST),
        "event",
        event="satisfaction_rated",
        rating="很满意",
    )
    session = dataclasses.replace(session, lines=(*session.lines, later))
    assert session_rating(session) == "很满意"


def test_engineer_months_exact(policy: Policy) -> None:
    nov = datetime(2026, 11, 23, 10, 0, tzinfo=CST)
    dec = datetime(2026, 12, 1, 10, 0, tzinfo=CST)
    s1 = make_session("S1", nov, rating="很满意")  # 1818: 100 - 10 - 3 = 87
    f1 = [finding("S1", "SCR001"), finding("S1", "LNG006", "warning")]
    s2 = make_session("S2", nov, rating="一般")  # 1818: fatal -> 0
    f2 = [finding("S2", "LNG001")]
    s3 = make_session("S3", nov)  # 1818: clean, no rating
    s4 = make_session("S4", dec, rating="满意")  # 1818 in December: session-level finding -> 90
    f4 = [finding("S4", "SCR004", index=None, agent=None)]
    # Both took part: the session counts for 2046 (first, responsible) only; 1818 is
    # charged for their own line.
    s5 = make_session("S5", nov, agents=("2046", "1818"))
    f5 = [finding("S5", "LNG006", "warning", index=2, agent="1818")]
    scored = [
        (score_session(s, f, policy), f)
        for s, f in ((s1, f1), (s2, f2), (s3, []), (s4, f4), (s5, f5))
    ]
    names = {"1818": "张三", "2046": "李四"}
    rows = engineer_months(scored, names=names.get)
    by_key = {(r.engineer, r.month): r for r in rows}
    assert list(by_key) == [("1818", "2026-11"), ("1818", "2026-12"), ("2046", "2026-11")]

    nov_1818 = by_key[("1818", "2026-11")]
    assert nov_1818.name == "张三"
    assert nov_1818.sessions == 3  # S1, S2, S3: S5 is 2046's, never counted twice
    assert nov_1818.average_score == pytest.approx((87 + 0 + 100) / 3)
    assert dict(nov_1818.findings_by_code) == {"LNG001": 1, "LNG006": 2, "SCR001": 1}
    assert dict(nov_1818.findings_by_severity) == {"error": 2, "warning": 2, "info": 0}
    assert nov_1818.rated == 2
    assert nov_1818.satisfaction_average == pytest.approx((5 + 2) / 2)

    dec_1818 = by_key[("1818", "2026-12")]
    assert (dec_1818.sessions, dec_1818.average_score) == (1, 90.0)
    assert dict(dec_1818.findings_by_code) == {"SCR004": 1}  # charged to the session's engineer
    assert (dec_1818.rated, dec_1818.satisfaction_average) == (1, 3.0)

    nov_2046 = by_key[("2046", "2026-11")]
    assert (nov_2046.sessions, nov_2046.average_score) == (1, 97.0)
    assert dict(nov_2046.findings_by_code) == {}
    assert (nov_2046.rated, nov_2046.satisfaction_average) == (0, None)


def test_false_positives_are_not_charged_to_the_engineer(policy: Policy) -> None:
    session = make_session("S1", datetime(2026, 11, 23, 10, 0, tzinfo=CST))
    wrong = finding("S1", "LNG002", evidence="滚")
    tally = EngineerTally()
    keys = {finding_key(wrong)}
    tally.add(score_session(session, [wrong], policy, false_positives=keys), [wrong], keys)
    (row,) = tally.months()
    assert (row.sessions, row.average_score, dict(row.findings_by_code)) == (1, 100.0, {})
    (total,) = tally.totals()
    assert total.findings == 0


def test_totals_merge_months(policy: Policy) -> None:
    tally = EngineerTally(lambda staff_no: "张三")
    for day, findings in (
        (datetime(2026, 11, 2, tzinfo=CST), [finding("A", "SCR001")]),
        (datetime(2026, 12, 2, tzinfo=CST), []),
    ):
        session = make_session("A", day)
        tally.add(score_session(session, findings, policy), findings)
    (total,) = tally.totals()
    assert (total.engineer, total.name, total.sessions) == ("1818", "张三", 2)
    assert total.average_score == pytest.approx(95.0)
    assert dict(total.findings_by_severity) == {"error": 1, "warning": 0, "info": 0}


def test_unanswered_session_has_no_engineer(policy: Policy) -> None:
    session = make_session("S", datetime(2026, 11, 23, 10, 0, tzinfo=CST), agents=())
    scored = score_session(session, [finding("S", "SLA001", agent=None, index=0)], policy)
    assert scored.engineer is None and scored.points == 90
    tally = EngineerTally()
    tally.add(scored, [finding("S", "SLA001", agent=None, index=0)])
    assert tally.months() == []
