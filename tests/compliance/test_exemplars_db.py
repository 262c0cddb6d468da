"""QA's stored marks teach `aftersales check --db` (and the bot at start-up) — on SQLite
and PostgreSQL (AFTERSALES_TEST_PG_URL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session as DbSession

from bot.cli import main
from compliance.exemplars import stored_exemplars
from storage.db import make_engine
from storage.models import Direction, Exemplar, MessageRole, Polarity
from tests.storage import factories

OPENED = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # Monday 09:30 in Shanghai
GREETING = "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]"
# An operator hit of LNG005 that QA judged a false alarm (say, a quoted complaint).
MARKED = "我们公司的质检就是走过场"


def _seed(url: str) -> None:
    engine = make_engine(url)
    try:
        with DbSession(engine) as db, db.begin():
            zhang = factories.engineer(db, staff_no="1818", name="张三")
            ticket = factories.ticket(
                db,
                number="PS-20261123-0001",
                channel="wechat",
                opened_at=OPENED,
                assigned_engineer=zhang,
            )
            lines = [
                (MessageRole.CUSTOMER, "oC1", "服务器开不了机"),
                (MessageRole.AGENT, "1818", GREETING),
                (MessageRole.AGENT, "1818", MARKED),
            ]
            for n, (role, sender, text) in enumerate(lines):
                factories.message(
                    db,
                    ticket=ticket,
                    channel="wechat",
                    role=role,
                    sender=sender,
                    text=text,
                    sent_at=OPENED + timedelta(seconds=20 * n),
                    direction=Direction.INBOUND
                    if role is MessageRole.CUSTOMER
                    else Direction.OUTBOUND,
                )
    finally:
        engine.dispose()


def _lng005(url: str, out: Path) -> list[str]:
    status = main(
        [
            "check",
            "--db",
            url,
            "--select",
            "LNG005",
            "--format",
            "json",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert status in (0, 1)
    report = json.loads(out.read_text(encoding="utf-8"))
    return [f["evidence"] for f in report["findings"] if f["rule"] == "LNG005"]


def test_a_false_positive_mark_silences_the_check_of_stored_tickets(
    db_url: str, tmp_path: Path
) -> None:
    _seed(db_url)
    assert _lng005(db_url, tmp_path / "before.json") != []
    engine = make_engine(db_url)
    try:
        with DbSession(engine) as db, db.begin():
            db.add(
                Exemplar(
                    detector="company_damaging",
                    rule="LNG005",
                    polarity=Polarity.NEGATIVE,
                    text=MARKED,
                    reviewer="qa",
                    reason="客户原话的转述",
                )
            )
        assert stored_exemplars(engine) == {"company_damaging": ([], [MARKED])}
    finally:
        engine.dispose()
    assert _lng005(db_url, tmp_path / "after.json") == []
