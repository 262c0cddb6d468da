"""The policy's seed-002 and seed-003 parts: fault levels by any of their names, the
complaint limits, the on-call duty hours (checked at load time, naming the key)."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from compliance.classify import Classifier
from compliance.policy import PolicyError, load_policy


def test_fault_levels_are_found_by_code_name_or_transcript_label() -> None:
    policy = load_policy("seed002")
    for key in ("L1", "一级故障", "一级"):
        level = policy.fault_level(key)
        assert level is not None and (level.code, level.response_s) == ("L1", 1800)
    other = policy.fault_level("其它")
    assert other is not None and (other.code, other.response_s) == ("OTHER", 21600)
    consult = policy.fault_level("技术咨询")
    assert consult is not None and consult.remote_response_s is None
    assert policy.fault_level("五级") is None and policy.fault_level(None) is None


def test_complaints_are_timed_in_seed002_and_tracked_without_limits_in_pusai() -> None:
    seed002, pusai = load_policy("seed002"), load_policy()
    limits = seed002.complaints
    assert limits.tracked and (limits.first_reply_s, limits.resolve_days) == (7200, 15)
    assert not pusai.complaints.tracked
    assert "投诉" in pusai.complaints.cues and seed002.complaints.cues == pusai.complaints.cues


def test_duty_hours_default_to_seed_003() -> None:
    duty = load_policy().duty
    assert (duty.opens, duty.closes) == (time(8, 0), time(19, 0))
    assert (duty.workday_opens, duty.workday_closes) == (time(9, 30), time(18, 0))
    assert "紧急" in duty.urgent_cues


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("opens = 19:00:00\ncloses = 08:00:00", "duty.closes"),
        ("workday_opens = 18:00:00\nworkday_closes = 09:30:00", "duty.workday_closes"),
        ("window = 3", "duty.window"),
    ],
)
def test_bad_duty_hours_name_the_key(tmp_path: Path, table: str, key: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(f'[meta]\nextends = "pusai"\n[duty]\n{table}\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=key.replace(".", r"\.")):
        load_policy(path)


def test_the_checker_reads_only_the_level_the_bot_reads() -> None:
    classifier = Classifier(load_policy("seed002"))
    for text in ("服务器开不了机了", "请问怎么开不了机", "硬盘告警", "希望加个功能"):
        level, hit = classifier.fault_level(text)
        full = classifier.classify(text)
        assert level is not None and level.code == full.fault_level
        assert (hit.cue if hit else None) == (full.fault_cue.cue if full.fault_cue else None)
