"""Exemplars from QA's marks: stored per detector, listed and exported by the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session as DbSession

from bot.cli import main
from compliance.exemplars import detector_for, load_exemplars, record_exemplar
from compliance.policy import load_policy
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import CheckRun, Severity
from storage.models import Finding as FindingRow

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_a_finding_teaches_the_detector_its_rule_and_source_name() -> None:
    policy = load_policy()
    assert detector_for(policy, "LNG002", "forbidden.abuse") == "abuse"
    assert detector_for(policy, "LNG003", "detectors.block_threat.operators.x") == "block_threat"
    assert detector_for(policy, "SCR003", "phrases.remote_access") == "remote"
    assert detector_for(policy, "LNG006", "forbidden.informal_address") is None
    # The customer-side rules teach the detector of the customer's cue.
    assert detector_for(policy, "LNG007", "phrases.complaint_cues") == "complaint"
    assert detector_for(policy, "LNG009", "phrases.emotion_cues") == "emotion"
    assert detector_for(policy, "SLA001", None) is None


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'qa.sqlite3'}"
    upgrade(url)
    return url


def _finding(db: DbSession, rule: str, source: str) -> FindingRow:
    run = CheckRun(source="t", policy_name="朴赛", started_at=NOW)
    db.add(run)
    db.flush()
    row = FindingRow(
        check_run_id=run.id,
        session="S1",
        rule=rule,
        severity=Severity.ERROR,
        index=2,
        message="m",
        evidence="e",
        source=source,
    )
    db.add(row)
    db.flush()
    return row


def test_marks_are_stored_listed_and_exported(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = load_policy()
    engine = make_engine(db_url)
    try:
        with DbSession(engine) as db, db.begin():
            row = _finding(db, "LNG005", "forbidden.company_damaging")
            for verdict in ("false_positive", "confirmed"):  # QA changes their mind
                record_exemplar(
                    db,
                    policy,
                    row,
                    verdict,
                    "我们公司质检就是走形式",
                    reviewer="qa",
                    reason="r",
                    now=NOW,
                )
        assert load_exemplars(engine) == {"company_damaging": (["我们公司质检就是走形式"], [])}
    finally:
        engine.dispose()

    assert main(["exemplars", "list", "--db", db_url, "--all"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["polarity"], e["active"]) for e in listed] == [
        ("positive", True),
        ("negative", False),
    ]
    out = tmp_path / "taught.toml"
    assert main(["exemplars", "export", "--db", db_url, "--out", str(out)]) == 0
    taught = load_policy(out)
    assert "我们公司质检就是走形式" in taught.detectors["company_damaging"].similarity.exemplars
