"""Stored tickets as sessions, saved check runs and QA verdicts — on SQLite and PostgreSQL.

PostgreSQL runs when AFTERSALES_TEST_PG_URL is set (each test in a fresh schema)
and is skipped with the reason otherwise.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session as DbSession

from bot.cli import main
from compliance.dbsource import (
    describe_url,
    has_schema,
    load_false_positives,
    load_sessions,
    local_day_bounds,
    save_run,
)
from compliance.model import Finding
from storage.db import make_engine
from storage.models import (
    CheckRun,
    Direction,
    EventKind,
    MessageRole,
    QaReview,
    Verdict,
)
from storage.models import Finding as FindingRow
from tests.storage import factories

# 2026-11-23 09:30 in Shanghai (a Monday, a working day).
OPENED = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
GREETING = "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def _at(minutes: float) -> datetime:
    return OPENED + timedelta(minutes=minutes)


def _seed(engine: Engine) -> dict[str, int]:
    """Three tickets around a date boundary; returns some row ids."""
    ids: dict[str, int] = {}
    with DbSession(engine) as db, db.begin():
        zhang = factories.engineer(db, staff_no="1818", name="张三")
        factories.engineer(db, staff_no="2046", name="李四")
        first = factories.ticket(
            db,
            number="PS-20261123-0001",
            channel="wechat",
            opened_at=OPENED,
            assigned_engineer=zhang,
        )
        factories.ticket_event(db, ticket=first, event=EventKind.TICKET_OPENED, at=_at(0))
        factories.message(
            db,
            ticket=first,
            channel="wechat",
            sender="oC1",
            text="服务器开不了机，电话13812345678",
            sent_at=_at(0.5),
        )
        factories.message(
            db,
            ticket=first,
            channel="wechat",
            direction=Direction.OUTBOUND,
            role=MessageRole.AGENT,
            sender="1818",
            sender_name="张三",
            text=GREETING,
            sent_at=_at(0.8),
        )
        factories.ticket_event(
            db, ticket=first, event=EventKind.TICKET_ACCEPTED, actor="1818", at=_at(1)
        )
        bad = factories.message(
            db,
            ticket=first,
            channel="wechat",
            direction=Direction.OUTBOUND,
            role=MessageRole.AGENT,
            sender="1818",
            text="你这个傻逼问题自己查",
            sent_at=_at(2),
        )
        ids["abusive_message"] = bad.id
        factories.message(
            db,
            ticket=first,
            channel="wechat",
            sender="oC1",
            text="",
            kind="image",
            sent_at=_at(3),
        )
        # Neither a system note nor an internal event is part of the transcript.
        factories.message(
            db,
            ticket=first,
            channel="wechat",
            role=MessageRole.SYSTEM,
            sender="system",
            text="工单已转交",
            sent_at=_at(3.5),
        )
        factories.ticket_event(db, ticket=first, event=EventKind.NOTE, actor="1818", at=_at(4))
        factories.ticket_event(
            db,
            ticket=first,
            event=EventKind.SATISFACTION_RATED,
            actor="oC1",
            at=_at(30),
            data={"rating": "一般", "points": 2},
        )
        # 23:30 on the 24th in Shanghai (15:30 UTC): a ticket of the 24th.
        late = factories.ticket(
            db,
            number="PS-20261124-0002",
            channel="web",
            opened_at=datetime(2026, 11, 24, 15, 30, tzinfo=UTC),
        )
        factories.message(db, ticket=late, sent_at=late.opened_at, text="在吗")
        # 00:10 on the 25th in Shanghai but still the 24th in UTC: a ticket of the 25th.
        next_day = factories.ticket(
            db,
            number="PS-20261125-0003",
            channel="web",
            opened_at=datetime(2026, 11, 24, 16, 10, tzinfo=UTC),
        )
        factories.message(db, ticket=next_day, sent_at=next_day.opened_at, text="你好")
        # A message that never became part of a ticket.
        factories.message(db, sent_at=_at(5), text="无主消息")
    return ids


def test_tickets_become_sessions(engine: Engine) -> None:
    _seed(engine)
    stored = load_sessions(engine)
    assert stored.errors == []
    assert [s.id for s in stored.sessions] == [
        "PS-20261123-0001",
        "PS-20261124-0002",
        "PS-20261125-0003",
    ]
    assert stored.assigned == {"PS-20261123-0001": "1818"}
    first = stored.sessions[0]
    assert first.channel == "wechat"
    assert [(line.role, line.event or line.text) for line in first.lines] == [
        ("event", "ticket_opened"),
        ("customer", "服务器开不了机，电话13812345678"),
        ("agent", GREETING),
        ("event", "ticket_accepted"),
        ("agent", "你这个傻逼问题自己查"),
        ("customer", "[图片]"),
        ("event", "satisfaction_rated"),
    ]
    assert first.lines[2].sender == "1818" and first.lines[2].name == "张三"
    assert first.names == {"1818": "张三"}
    assert first.lines[-1].rating == "一般"
    assert first.lines[3].sender == "1818"
    assert first.lines[1].ts == _at(0.5)


def test_date_range_is_by_shanghai_day(engine: Engine) -> None:
    _seed(engine)
    only_24th = load_sessions(engine, since=date(2026, 11, 24), until=date(2026, 11, 24))
    assert [s.id for s in only_24th.sessions] == ["PS-20261124-0002"]
    from_25th = load_sessions(engine, since=date(2026, 11, 25))
    assert [s.id for s in from_25th.sessions] == ["PS-20261125-0003"]
    until_23rd = load_sessions(engine, until=date(2026, 11, 23))
    assert [s.id for s in until_23rd.sessions] == ["PS-20261123-0001"]
    assert local_day_bounds(date(2026, 11, 24), date(2026, 11, 24)) == (
        datetime(2026, 11, 23, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
    )


def test_bad_stored_rows_name_table_and_id(engine: Engine) -> None:
    with DbSession(engine) as db, db.begin():
        ticket = factories.ticket(db, number="PS-20261123-0009", opened_at=OPENED)
        factories.message(db, ticket=ticket, sent_at=_at(0), text="开不了机")
        nameless = factories.message(
            db,
            ticket=ticket,
            direction=Direction.OUTBOUND,
            role=MessageRole.AGENT,
            sender=None,
            text="您好",
            sent_at=_at(1),
        )
        unrated = factories.ticket_event(
            db, ticket=ticket, event=EventKind.SATISFACTION_RATED, at=_at(2), data={}
        )
        ids = (nameless.id, unrated.id)
    stored = load_sessions(engine)
    assert [str(e) for e in stored.errors] == [
        f"db:messages:{ids[0]}: an agent line needs field 'sender' (the engineer's 工号)",
        f"db:ticket_events:{ids[1]}: satisfaction_rated needs field 'rating' "
        "(很满意 / 满意 / 一般 / 不满意)",
    ]
    # The good rows of the ticket are still there.
    assert [line.text for line in stored.sessions[0].lines] == ["开不了机"]


def _finding(session: str, rule: str, index: int | None, evidence: str | None) -> Finding:
    return Finding(
        session=session,
        rule=rule,
        severity="error",
        message="m",
        index=index,
        agent="1818",
        evidence=evidence,
        source="forbidden.profanity/" + "x" * 80,
        ts=_at(index or 0),
    )


def test_save_run_and_false_positive_verdicts(engine: Engine) -> None:
    findings = [
        dataclasses.replace(_finding("S1", "LNG001", 2, "傻逼"), span=(5, 7)),
        _finding("S1", "SCR001", 1, None),
        _finding("S2", "LNG002", 4, "滚"),
    ]
    run_id = save_run(
        engine,
        findings,
        source="a.jsonl",
        policy_name="朴赛售后服务标准",
        parameters={"select": ["LNG"]},
        sessions_checked=2,
        started_at=OPENED,
    )
    with DbSession(engine) as db, db.begin():
        run = db.get(CheckRun, run_id)
        assert run is not None
        assert (run.sessions_checked, run.findings_count, run.source) == (2, 3, "a.jsonl")
        assert run.parameters == {"select": ["LNG"]}
        rows = db.scalars(
            select(FindingRow).where(FindingRow.check_run_id == run_id).order_by(FindingRow.id)
        ).all()
        assert [(r.session, r.rule, r.index, r.evidence, str(r.severity)) for r in rows] == [
            ("S1", "LNG001", 2, "傻逼", "error"),
            ("S1", "SCR001", 1, None, "error"),
            ("S2", "LNG002", 4, "滚", "error"),
        ]
        assert rows[0].ts == _at(2)
        assert [(r.span_start, r.span_end) for r in rows] == [(5, 7), (None, None), (None, None)]
        assert rows[0].source is not None and len(rows[0].source) == 64
        # QA: LNG002 is a false positive; LNG001 was first marked so, then confirmed.
        db.add(
            QaReview(
                finding_id=rows[2].id,
                reviewer="7001",
                verdict=Verdict.FALSE_POSITIVE,
                reason="滚动条",
                created_at=_at(60),
            )
        )
        db.add(
            QaReview(
                finding_id=rows[0].id,
                reviewer="7001",
                verdict=Verdict.FALSE_POSITIVE,
                reason="?",
                created_at=_at(60),
            )
        )
        db.add(
            QaReview(
                finding_id=rows[0].id,
                reviewer="9001",
                verdict=Verdict.CONFIRMED,
                reason="确实是脏话",
                created_at=_at(90),
            )
        )
    assert load_false_positives(engine, {"S1", "S2"}) == {("S2", "LNG002", 4, "滚")}
    assert load_false_positives(engine, {"S1"}) == frozenset()
    assert load_false_positives(engine, set()) == frozenset()


def test_check_db_json_save_and_rerun_with_verdict(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _seed(engine)
    status = main(
        [
            "check",
            "--db",
            db_url,
            "--since",
            "2026-11-23",
            "--until",
            "2026-11-23",
            "--format",
            "json",
            "--save",
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert status == 1, captured.err
    report = json.loads(captured.out)
    summary = report["summary"]
    assert summary["complete"] is True
    assert summary["sessions"] == 1
    profanity = [f for f in report["findings"] if f["rule"] == "LNG001"]
    assert [(f["session"], f["index"], f["agent"], f["evidence"]) for f in profanity] == [
        ("PS-20261123-0001", 4, "1818", "傻逼")
    ]
    assert "13812345678" not in captured.out
    assert summary["scores"][0]["agent"] == "1818"
    assert summary["scores"][0]["score"] == 0  # LNG001 is fatal
    assert summary["engineer_months"][0]["satisfaction_average"] == 2.0
    assert "saved check run #" in captured.err
    with DbSession(engine) as db, db.begin():
        run = db.scalars(select(CheckRun)).one()
        assert run.sessions_checked == 1
        assert run.findings_count == len(report["findings"])
        assert run.parameters["since"] == "2026-11-23"
        assert run.parameters["complete"] is True
        stored = db.scalars(select(FindingRow).where(FindingRow.rule == "LNG001")).one()
        # The database keeps the unmasked evidence, as the message itself is stored.
        assert (stored.session, stored.index, stored.evidence) == ("PS-20261123-0001", 4, "傻逼")
        db.add(
            QaReview(
                finding_id=stored.id, reviewer="7001", verdict=Verdict.FALSE_POSITIVE, reason="测试"
            )
        )
    assert ids["abusive_message"] > 0

    status = main(
        ["check", "--db", db_url, "--until", "2026-11-23", "--format", "json", "--no-progress"]
    )
    rerun = json.loads(capsys.readouterr().out)
    marked = [f for f in rerun["findings"] if f["rule"] == "LNG001"]
    assert [f["false_positive"] for f in marked] == [True]
    assert rerun["summary"]["false_positives"] == 1
    assert rerun["summary"]["scores"][0]["score"] > 0  # no longer fatal
    assert "LNG001" not in {r["code"] for r in rerun["summary"]["by_rule"]}
    with DbSession(engine) as db:
        assert db.scalar(select(func.count()).select_from(CheckRun)) == 1  # no --save: not stored


def test_save_db_for_files_migrates_a_new_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(
        json.dumps(
            {
                "session": "F1",
                "channel": "web",
                "ts": "2026-11-23T09:31:00+08:00",
                "role": "customer",
                "sender": "v",
                "text": "在吗",
            },
            ensure_ascii=False,
        )
        + "\n"
        + json.dumps(
            {
                "session": "F1",
                "ts": "2026-11-23T09:31:20+08:00",
                "role": "agent",
                "sender": "1818",
                "text": "在的，你说",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    status = main(["check", str(transcript), "--save", "--save-db", url, "--format", "json"])
    captured = capsys.readouterr()
    assert status == 1, captured.err
    engine = make_engine(url)
    try:
        assert has_schema(engine)
        with DbSession(engine) as db:
            run = db.scalars(select(CheckRun)).one()
            assert run.source == str(transcript)
            rules = set(db.scalars(select(FindingRow.rule)))
    finally:
        engine.dispose()
    assert rules == {f["rule"] for f in json.loads(captured.out)["findings"]}
    assert "SCR001" in rules


def test_db_without_schema_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert main(["check", "--db", url]) == 2
    assert "no aftersales tables" in capsys.readouterr().err


def test_unreachable_database_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--db", "mysql://u:secret@h/db"]) == 2
    err = capsys.readouterr().err
    assert "database error" in err and "unsupported database" in err


def test_describe_url_hides_the_password() -> None:
    assert describe_url("postgresql+psycopg://qa:s3cret@db:5432/aftersales") == (
        "postgresql+psycopg://qa:***@db:5432/aftersales"
    )
