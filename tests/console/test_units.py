"""Pure parts of the console: cookie signing, CSRF tokens, SLA wording, charts, redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.console.auth import safe_next
from bot.console.charts import Bar, bar_chart
from bot.console.security import SecretKeyError, Signer
from bot.console.sla import countdown, human_duration

SECRET = "s" * 40
NOW = 1_800_000_000.0


def test_session_cookie_round_trip_and_tamper() -> None:
    signer = Signer(SECRET)
    session = signer.new_session(7, NOW)
    cookie = signer.session_cookie(session)
    assert signer.read_session(cookie, NOW + 10) == session
    _body, mac = cookie.split(".")
    forged_body = signer.dumps({"u": 1, "t": session.issued_at_ms, "n": session.nonce}).split(".")[
        0
    ]
    assert signer.read_session(f"{forged_body}.{mac}", NOW) is None
    assert signer.read_session(cookie[:-2] + "xx", NOW) is None
    assert signer.read_session("garbage", NOW) is None
    assert Signer("t" * 40).read_session(cookie, NOW) is None


def test_session_expires_and_refuses_future_cookies() -> None:
    signer = Signer(SECRET, session_ttl_s=3600)
    cookie = signer.session_cookie(signer.new_session(1, NOW))
    assert signer.read_session(cookie, NOW + 3599) is not None
    assert signer.read_session(cookie, NOW + 3601) is None
    assert signer.read_session(cookie, NOW - 3600) is None


def test_csrf_token_is_bound_to_the_session_nonce() -> None:
    signer = Signer(SECRET)
    token = signer.csrf_token("nonce-a")
    assert signer.csrf_ok("nonce-a", token)
    assert not signer.csrf_ok("nonce-b", token)
    assert not signer.csrf_ok("nonce-a", None)
    assert not signer.csrf_ok("nonce-a", "")
    # The CSRF key is not the session key: a token never verifies as a cookie MAC.
    assert signer.loads(f"{signer.dumps({'n': 'nonce-a'}).split('.')[0]}.{token}") is None


def test_short_secret_is_refused_with_the_variable_named() -> None:
    with pytest.raises(SecretKeyError, match="AFTERSALES_SECRET_KEY"):
        Signer("short")


def test_login_cookie_round_trip() -> None:
    signer = Signer(SECRET)
    cookie = signer.login_cookie("abc", NOW)
    assert signer.read_login_cookie(cookie, NOW + 5) == "abc"
    assert signer.read_login_cookie(cookie, NOW + 7200) is None
    # A session cookie is not a login cookie and the other way round.
    assert signer.read_session(cookie, NOW) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45秒"),
        (150, "2分30秒"),
        (600, "10分钟"),
        (3900, "1小时5分"),
        (7200, "2小时"),
        (90000, "1天1小时"),
        (-75, "1分15秒"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_countdown_states() -> None:
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert countdown("受理", now + timedelta(hours=1), now).state == "ok"
    soon = countdown("受理", now + timedelta(minutes=3), now)
    assert (soon.state, soon.text) == ("soon", "剩余 3分钟")
    late = countdown("受理", now - timedelta(minutes=12), now)
    assert (late.state, late.text, late.breached) == ("breached", "已超时 12分钟", True)
    assert countdown("受理", None, now).state == "none"
    assert countdown("受理", now - timedelta(hours=1), now, done=True).state == "done"


def test_bar_chart_escapes_labels_and_states_values() -> None:
    svg = str(bar_chart("按规则", [Bar("<script>", 3, alarm=True), Bar("SCR001", 1)]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'role="img"' in svg and "<title>按规则</title>" in svg
    assert "bar--error" in svg and ">3</text>" in svg and ">1</text>" in svg
    assert "没有数据" in str(bar_chart("空", []))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/tickets/PS-1", "/console/tickets/PS-1"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
        ("/chat", "/console/"),
        (None, "/console/"),
        ("/console/\\evil", "/console/"),
    ],
)
def test_safe_next_never_leaves_the_console(target: str | None, expected: str) -> None:
    assert safe_next(target, "/console") == expected


def test_sla_badges_of_a_ticket() -> None:
    from bot.console.sla import sla_badges
    from bot.lifecycle import TimerKind

    opened = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    accept_due = opened + timedelta(minutes=5)
    solution_due = opened + timedelta(hours=4, minutes=1)
    day4 = opened + timedelta(days=3)
    timers = [
        (TimerKind.ACCEPT_ENGINEER, accept_due, "fired"),
        (TimerKind.SOLUTION_DUE, solution_due, "pending"),
        (TimerKind.PROGRESS, day4, "pending"),
        (TimerKind.PROGRESS, opened + timedelta(days=6), "pending"),
    ]
    waiting = {"status": "opened", "times": {"opened_at": opened.isoformat()}}
    accept, solution, progress = sla_badges(waiting, timers, opened + timedelta(minutes=9), None)
    assert (accept.state, accept.text) == ("breached", "已超时 4分钟")
    assert (solution.state, solution.text) == ("none", "受理后计时")
    assert progress.state == "ok" and progress.deadline == day4

    accepted_at = opened + timedelta(minutes=3)
    times = {"opened_at": opened.isoformat(), "accepted_at": accepted_at.isoformat()}
    working = {"status": "accepted", "times": times}
    late = solution_due + timedelta(minutes=30)
    accept, solution, _ = sla_badges(working, timers, late, accepted_at)
    assert (accept.state, accept.text) == ("done", "已受理")
    assert (solution.state, solution.text) == ("breached", "已超时 30分钟")

    # Day 4 came and went with no engineer line since: the update is overdue.
    fired = [*timers[:2], (TimerKind.PROGRESS, day4, "fired"), timers[3]]
    after_day4 = day4 + timedelta(hours=2)
    *_, progress = sla_badges(working, fired, after_day4, accepted_at)
    assert (progress.state, progress.deadline) == ("breached", day4)
    *_, progress = sla_badges(working, fired, after_day4, day4 + timedelta(minutes=10))
    assert (progress.state, progress.deadline) == ("ok", opened + timedelta(days=6))

    escalated = {"status": "accepted", "times": {**times, "escalated_at": late.isoformat()}}
    _, solution, _ = sla_badges(escalated, timers, late, accepted_at)
    assert (solution.state, solution.text) == ("done", "已升级技术部")
