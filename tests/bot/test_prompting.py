"""Prompted lines, the classifier and the short-answer readers, without a database."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.phrases import backup_answer, satisfaction_label
from bot.prompting import Prompter, distance_tier_label
from compliance.calendar import SHANGHAI
from compliance.classify import Classifier
from compliance.policy import Policy, build_calendar, load_policy
from scripts_library import ScriptKey


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="module")
def prompter(policy: Policy) -> Prompter:
    return Prompter(policy, build_calendar(policy))


def test_first_turn_on_a_working_saturday_is_the_greeting_alone(prompter: Prompter) -> None:
    lines = prompter.first_turn(
        "张三", "1818", "wechat", datetime(2026, 11, 21, 10, 0, tzinfo=SHANGHAI)
    )
    assert [line.key for line in lines] == [ScriptKey.GREETING]
    assert (
        lines[0].text == "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]"
    )


def test_first_turn_on_a_rest_day_adds_the_next_working_day(prompter: Prompter) -> None:
    # National Day 2026: 10-01..10-07 rest days, 10-08 the next working day.
    lines = prompter.first_turn(
        "李四", "2046", "web", datetime(2026, 10, 3, 11, 0, tzinfo=SHANGHAI)
    )
    assert [line.key for line in lines] == [ScriptKey.GREETING, ScriptKey.REST_DAY_NOTICE]
    assert "10月8日（周四）优先受理并给出解决方案" in lines[1].text
    assert lines[0].text.endswith("🤝")  # the web page shows Unicode emoji


def test_sunday_notice_names_monday(prompter: Prompter) -> None:
    lines = prompter.first_turn(
        "张三", "1818", "wechat", datetime(2026, 11, 22, 23, 30, tzinfo=SHANGHAI)
    )
    assert "11月23日（周一）" in lines[-1].text


def test_progress_update_offers_a_replacement_on_day_seven(prompter: Prompter) -> None:
    day4 = prompter.progress_update(4, "PS-20261123-0001", "等待原厂备件", "wechat")
    day7 = prompter.progress_update(7, "PS-20261123-0001", "等待原厂备件", "wechat")
    assert day4.key is ScriptKey.PROGRESS_DAY4 and "替代品" not in day4.text
    assert day7.key is ScriptKey.PROGRESS_DAY7 and "替代品" in day7.text


def test_closing_lines_are_thanks_then_responsibility(prompter: Prompter) -> None:
    keys = [line.key for line in prompter.closing_lines("wechat")]
    assert keys == [ScriptKey.THANKS, ScriptKey.RESPONSIBILITY]


@pytest.mark.parametrize(
    ("km", "label"),
    [
        (0, "100公里以内"),
        (99.9, "100公里以内"),
        (100, "100~300公里"),
        (300, "100~300公里"),
        (301, "300公里以上"),
    ],
)
def test_distance_tier_labels(policy: Policy, km: float, label: str) -> None:
    assert distance_tier_label(km, policy) == label


@pytest.mark.parametrize(
    ("text", "level", "intents", "intermittent"),
    [
        ("服务器开不了机了", "L1", ("fault",), False),
        ("请问怎么开不了机", "L1", ("fault", "consultation"), False),
        ("硬盘亮红灯了", "L2", (), False),
        ("服务器偶尔自动重启", "L2", ("fault",), True),
        ("请问RAID怎么配置", "CONSULT", ("consultation",), False),
        ("今天天气不错", "OTHER", (), False),
    ],
)
def test_classifier(
    policy: Policy, text: str, level: str, intents: tuple[str, ...], intermittent: bool
) -> None:
    result = Classifier(policy).classify(text)
    assert result.fault_level == level
    assert set(result.intents) == set(intents)
    assert result.intermittent is intermittent


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("好的，已备份", "confirmed"),
        ("数据都有备份的", "confirmed"),
        ("数据不重要，直接远程吧", "confirmed"),
        ("嗯嗯", "confirmed"),
        ("没有备份", "denied"),
        ("还没有备份好", "denied"),
        ("稍等我备份一下", "denied"),
        ("什么意思", "unclear"),
        ("", "unclear"),
    ],
)
def test_backup_answers(text: str, answer: str) -> None:
    assert backup_answer(text, load_policy().phrases) == answer


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("很满意", "很满意"),
        ("满意！", "满意"),
        ("满意，谢谢[玫瑰]", "满意"),
        ("不满意", "不满意"),
        ("一般般", "一般"),
        ("不太满意", None),
        ("非常满意", None),
    ],
)
def test_satisfaction_labels(text: str, label: str | None) -> None:
    assert satisfaction_label(text, ("很满意", "满意", "一般", "不满意")) == label
