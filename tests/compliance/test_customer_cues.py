"""LNG007–LNG009 read the customer's complaint, doubt and anger in new words, and the
agent's acknowledgement in any words (the detectors' operators, through the grammar).

The sentences here are this file's own, not the labelled sets' (bench/eval)."""

from __future__ import annotations

from functools import lru_cache

import pytest

from compliance.checker import Checker, agent_cue_lists, customer_cue_lists
from compliance.detection import CueReader, Detectors
from compliance.matchers import folder_for
from compliance.policy import load_policy
from compliance.transcript import sessions_from_records


@lru_cache(maxsize=1)
def readers() -> tuple[CueReader, CueReader]:
    policy = load_policy(None)
    folder = folder_for(policy)
    detectors = Detectors(policy, folder)
    return (
        CueReader(customer_cue_lists(policy), detectors, folder),
        CueReader(agent_cue_lists(policy), detectors, folder),
    )


def cues(text: str) -> set[str]:
    found = readers()[0].find(text)
    return {name for name in ("complaint", "doubt", "emotion") if name in found}


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        # Plain facts, no negative word.
        ("换了主板没几天又死机了", "complaint"),
        ("寄修回来还是老样子", "complaint"),
        ("每次都要我打电话过去问", "complaint"),
        ("热线打了一下午都没人接", "complaint"),
        ("到现在一个人都没联系过我", "complaint"),
        ("修完以后比修之前还慢", "complaint"),
        ("为什么又要我重新提交一遍", "complaint"),
        ("这台机器到底什么时候才能修好", "complaint"),
        # Sarcasm about the service.
        ("呵呵，你们这速度", "complaint"),
        ("你们售后真行啊，一个礼拜了", "complaint"),
        # Rhetorical or hedged doubt.
        ("你确定是电源的问题？", "doubt"),
        ("这个结论我不太相信", "doubt"),
        ("不会又是让我重装系统吧", "doubt"),
        ("你们上次也是这么保证的", "doubt"),
        ("你们的工程师好像不太懂这个型号", "doubt"),
        # Outbursts and what is at stake.
        ("少跟我打官腔", "emotion"),
        ("这周再不好我就要被领导处分了", "emotion"),
        ("你们到底想怎么样", "emotion"),
        ("简直荒唐！", "emotion"),
    ],
)
def test_cues_in_new_words_are_read(text: str, cue: str) -> None:
    assert cue in cues(text)


@pytest.mark.parametrize(
    "text",
    [
        "系统卡了好几天了",  # a fault's duration, not a wait for us
        "好久没开这台机器了",
        "上个月修完一直很稳定",
        "我们下个月要上线，能不能快点排期",
        "这个是不是在保修期内",
        "有没有技术文档可以发我",
        "你们工程师真厉害，一下就修好了",  # praise, not sarcasm
        "好的！！",
        "我不太懂服务器",
    ],
)
def test_look_alikes_are_no_cue(text: str) -> None:
    assert cues(text) == set()


def test_a_negation_before_a_span_of_time_is_none() -> None:
    # 没两天 is "not even two days", not a negation of what follows.
    assert "complaint" in cues("刚修好没两天又不行了")
    assert "complaint" not in cues("修好以后没有再坏过")


@pytest.mark.parametrize(
    ("text", "acknowledged"),
    [
        ("理解，换谁遇到这种情况都会着急", True),
        ("您着急我们都理解，我马上去催", True),
        ("感谢您的理解，配件明天到", False),  # asks for theirs, gives none
        ("请您理解，这是公司规定", False),
        ("我们不理解为什么会这样", False),
    ],
)
def test_understanding_in_any_words_acknowledges(text: str, acknowledged: bool) -> None:
    reader = readers()[1]
    folded = reader.folder.fold(text)
    hit = reader.read("complaint_ack", text, folded, reader.find(text, folded))
    assert (hit is not None) is acknowledged


def test_a_finding_says_which_layer_read_the_customer_and_how_sure() -> None:
    policy = load_policy(None)
    records = [
        {"session": "s", "ts": "2026-11-23T09:30:00+08:00", "role": "customer",
         "sender": "c", "text": "报修三天了，今天还是没来", "channel": "wechat"},
        {"session": "s", "ts": "2026-11-23T09:30:20+08:00", "role": "agent",
         "sender": "1818", "text": "请问机器型号是什么"},
    ]  # fmt: skip
    session = sessions_from_records(records, "t").sessions[0]
    findings = list(Checker(policy, select=frozenset({"LNG007"})).check(session))
    assert [(f.rule, f.layer) for f in findings] == [("LNG007", "operator")]
    assert findings[0].confidence is not None and 0 < findings[0].confidence < 1
