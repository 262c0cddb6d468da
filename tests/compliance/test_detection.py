"""The layered detectors: grammar, operators, similarity, the policy's validation, and
one implementation for the checker and the bot's pre-send check.

The agreement test runs every single-line case of the development set
(``bench/eval/dev.yaml``, ``heldout.yaml`` and ``heldout2.yaml``) through both: the pre-send check
refuses a line exactly when the checker flags it at error level, for the same rules.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

from bench.eval_rules import PARTS, Case, load_cases, session_records
from bot.presend import PresendChecker
from compliance.checker import CheckContext, Checker
from compliance.detection import Detectors
from compliance.detection.similarity import similarity
from compliance.matchers import RequiredLineMatcher, folder_for
from compliance.policy import Policy, PolicyError, load_policy
from compliance.transcript import sessions_from_records
from scripts_library import ScriptKey, canonical_text

LANGUAGE_RULES = ("LNG001", "LNG002", "LNG003", "LNG004", "LNG005", "LNG006")


@lru_cache(maxsize=1)
def policy() -> Policy:
    return load_policy()


@lru_cache(maxsize=1)
def detectors() -> Detectors:
    return Detectors(policy(), folder_for(policy()))


@lru_cache(maxsize=1)
def presend() -> PresendChecker:
    return PresendChecker(policy())


@lru_cache(maxsize=1)
def checker() -> Checker:
    return Checker(policy(), select=frozenset(LANGUAGE_RULES), context=CheckContext.build(policy()))


def language(text: str) -> list[tuple[str, str, str]]:
    """(rule, layer, matched) of every language detection in an agent line."""
    folder = folder_for(policy())
    folded = folder.fold(text)
    hits = presend().forbidden.find(text, folded)
    return [(d.rule, d.layer, d.matched) for d in detectors().language(text, folded, hits)]


# -- grammar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我们从不拉黑客户",
        "请放心，我们不会删除您的好友",
        "我不会不理您的",
        "拉黑客户是不可能的",
        "防火墙已经把攻击者的IP拉黑了",
        "我帮您把这条重复的工单删除了",
        "您的账号被平台封号了，需要联系平台申诉",
    ],
)
def test_negated_reassuring_and_security_mentions_are_no_threat(text: str) -> None:
    assert [hit for hit in language(text) if hit[0] == "LNG003"] == []


@pytest.mark.parametrize(
    ("text", "layer"),
    [
        ("你再不配合我就拉黑你", "phrase"),  # 不 negates 配合, 就 ends its reach
        ("再这样我就把你从好友里移除", "operator"),
        ("以后你发的消息我一律不回", "operator"),
    ],
)
def test_threats_in_any_words_are_caught(text: str, layer: str) -> None:
    assert ("LNG003", layer) in [(rule, found) for rule, found, _m in language(text)]


def test_a_not_a_question_is_no_negation() -> None:
    # 是不是 asks; it does not negate 傻.
    assert ("LNG002", "phrase", "你是不是傻") in language("你是不是傻")


def test_one_character_evaluations_are_whole_words_only() -> None:
    # 差 in 差不多 is no judgement of the company.
    assert language("我们公司的产品差不多都是这个价") == []
    assert ("LNG005", "operator", "差") in language("我们公司的产品质量差")


def test_hypothetical_self_criticism_is_no_damage() -> None:
    assert language("如果我们的服务有不到位的地方，请您指出") == []


# -- similarity -------------------------------------------------------------------------


def test_similarity_weighs_rare_words_over_common_ones() -> None:
    folder = folder_for(policy())
    alike = similarity(folder.fold("您的理解能力真让人着急"), folder.fold("你的理解能力让人着急"))
    unlike = similarity(folder.fold("您的理解能力真让人着急"), folder.fold("您的订单已经发货了"))
    assert alike > 0.7 > 0.2 > unlike


def test_negative_exemplars_from_qa_marks_silence_a_false_alarm() -> None:
    text = "我们公司的质检就是走过场"
    folder = folder_for(policy())
    folded = folder.fold(text)
    assert Detectors(policy(), folder).language(text, folded, [])
    quiet = Detectors(policy(), folder, {"company_damaging": ((), [text])})
    assert quiet.language(text, folded, []) == []
    # Another sentence of the same kind is still caught.
    other = "公司领导根本不管客户"
    assert quiet.language(other, folder.fold(other), [])


def test_positive_exemplars_from_qa_marks_teach_the_similarity_layer() -> None:
    text = "您这种问题我们一般不建议自己动手"
    folder = folder_for(policy())
    folded = folder.fold(text)
    assert Detectors(policy(), folder).language(text, folded, []) == []
    taught = Detectors(policy(), folder, {"abuse": (["您这种问题我们一般都不建议自己动手"], ())})
    found = taught.language(text, folded, [])
    assert [(d.rule, d.layer) for d in found] == [("LNG002", "similarity")]
    assert found[0].confidence >= policy().detectors["abuse"].similarity.threshold


# -- policy validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[detectors.abuse]\nrule = "LNG002"\nwindw = 3\n', "detectors.abuse.windw: unknown key"),
        (
            '[detectors.abuse]\nrule = "LNG002"\n[[detectors.abuse.operators]]\nname = "x"\n'
            'kind = "regex"\nevaluations = ["a"]\npatterns = ["("]\n',
            "detectors.abuse.operators[0].patterns[0]: not a valid regex",
        ),
        (
            '[detectors.abuse.layers]\nphrases = "error"\n',
            "detectors.abuse.layers.phrases: unknown layer",
        ),
        (
            "[detectors.abuse.similarity]\nthreshold = 1.5\n",
            "detectors.abuse.similarity.threshold: must be above 0 and at most 1",
        ),
        ('[detectors.nonsense]\nrule = "LNG002"\n', "detectors.nonsense: a detector extends"),
        (
            '[detectors.abuse]\nrule = "LNG003"\n',
            "detectors.abuse.rule: must be LNG002",
        ),
        (
            '[detectors.abuse]\nrule = "LNG002"\n[[detectors.abuse.operators]]\nname = "x"\n'
            'evaluations = ["a"]\nevaluation_lexicons = ["nope"]\ntargets = ["b"]\n',
            "detectors.abuse.operators[0].evaluation_lexicons[0]: no lexicon 'nope'",
        ),
        ('[presend.lines]\nLNG999 = "x"\n', "presend.lines.LNG999: unknown rule code"),
    ],
)
def test_bad_detector_tables_are_errors_naming_the_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[meta]\nextends = "pusai"\n' + toml, encoding="utf-8")
    with pytest.raises(PolicyError, match=re.escape(message)):
        load_policy(path)


def test_a_presend_line_that_is_not_compliant_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[meta]\nextends = "pusai"\n[presend.lines]\nLNG004 = "我先挂了"\n', encoding="utf-8"
    )
    with pytest.raises(PolicyError, match=r"presend\.lines\.LNG004: .*not compliant"):
        PresendChecker(load_policy(path))


# -- the pre-send check -------------------------------------------------------------------------


def test_the_suggestion_is_never_the_draft_with_the_insult_cut_out() -> None:
    draft = "这么简单的操作您都搞不明白吗，你先重启一下"
    result = presend().check(draft)
    assert result.verdict == "refused"
    assert result.suggestion == policy().presend.lines["LNG002"]
    assert presend().hits(result.suggestion) == ()
    assert [h.layer for h in result.hits if h.rule == "LNG002"] == ["operator"]


def test_the_standard_line_for_the_situation_comes_first() -> None:
    result = presend().check("我先挂了", customer_text="气死我了，又宕机了！！！")
    assert result.suggestion == canonical_text(ScriptKey.EMOTION_RESPONSE)
    doubt = presend().check("我下班了", customer_text="你们到底靠谱吗？")
    assert doubt.suggestion == canonical_text(ScriptKey.DOUBT_RESPONSE)


def test_informal_address_only_is_rewritten_by_rule() -> None:
    result = presend().check("你先重启一下服务器", "张总")
    assert (result.verdict, result.suggestion) == ("confirm", "张总先重启一下服务器")


def _single_line_cases() -> list[tuple[str, str]]:
    cases = []
    for part in PARTS:
        for case in load_cases(part):
            if case.rule in LANGUAGE_RULES:
                cases.append((case.rule, case.turns[0][1]))
    return cases


def test_checker_and_presend_agree_on_every_development_line() -> None:
    disagreements = []
    cases = _single_line_cases()
    assert len(cases) >= 500
    for number, (rule, text) in enumerate(cases):
        records, own = session_records(Case(rule, True, (("agent", text),)), f"agree-{number}")
        session = sessions_from_records(records, "agree").sessions[0]
        (index,) = own
        flagged = {(f.rule, f.severity) for f in checker().check(session) if f.index == index}
        result = presend().check(text)
        said = {(h.rule, h.severity) for h in result.hits}
        refused = result.verdict == "refused"
        if said != flagged or refused != any(s == "error" for _r, s in flagged):
            disagreements.append((text, sorted(flagged), sorted(said)))
        if result.suggestion is not None:
            assert presend().hits(result.suggestion) == (), result.suggestion
    assert disagreements == []


CONTEXT_RULES = ("LNG007", "LNG008", "LNG009")


def _answer_cases() -> list[tuple[str, str, str]]:
    """(rule, customer message, agent reply) of every two-turn LNG007–LNG009 case."""
    cases = []
    for part in PARTS:
        for case in load_cases(part):
            roles = [role for role, _text in case.turns]
            if case.rule in CONTEXT_RULES and roles == ["customer", "agent"]:
                cases.append((case.rule, case.turns[0][1], case.turns[1][1]))
    return cases


def test_checker_and_presend_agree_on_every_answer_to_a_customer() -> None:
    """With the customer's last message as context, the pre-send check reports the
    LNG007–LNG009 finding exactly when the checker does, at the same severity."""
    context_checker = Checker(
        policy(), select=frozenset(CONTEXT_RULES), context=CheckContext.build(policy())
    )
    disagreements = []
    cases = _answer_cases()
    assert len(cases) >= 150
    for number, (rule, said, reply) in enumerate(cases):
        turns = (("customer", said), ("agent", reply))
        records, own = session_records(Case(rule, True, turns), f"answer-{number}")
        session = sessions_from_records(records, "answer").sessions[0]
        flagged = {
            (f.rule, f.severity) for f in context_checker.check(session) if f.index == max(own)
        }
        result = presend().check(reply, customer_text=said)
        told = {(h.rule, h.severity) for h in result.hits if h.rule in CONTEXT_RULES}
        if told != flagged:
            disagreements.append((said, reply, sorted(flagged), sorted(told)))
        if result.suggestion is not None:
            assert presend().hits(result.suggestion) == (), result.suggestion
            assert presend().context_hits(result.suggestion, said) == (), result.suggestion
    assert disagreements == []


def test_an_unacknowledged_complaint_is_answered_with_the_standard_line() -> None:
    result = presend().check("请问服务器型号是什么？", customer_text="等了半天都没人管，什么服务")
    assert [(h.rule, h.severity) for h in result.hits] == [("LNG007", "warning")]
    assert result.verdict == "confirm"
    assert result.suggestion == canonical_text(ScriptKey.COMPLAINT_RESPONSE)
    acknowledged = presend().check(
        "非常抱歉让您久等了，我马上处理", customer_text="等了半天都没人管，什么服务"
    )
    assert acknowledged.verdict == "ok"


def test_no_evaluation_sentence_is_in_the_policy() -> None:
    """The labelled set measures the detectors; none of its sentences may be one of the
    policy's phrases or exemplars (those are general prototypes)."""
    folder = folder_for(policy())
    configured = {folder.fold(p) for f in policy().forbidden.values() for p in f.phrases}
    for spec in policy().detectors.values():
        configured |= {folder.fold(e) for e in spec.similarity.exemplars}
    sentences = {
        folder.fold(text)
        for part in PARTS
        for case in load_cases(part)
        for _role, text in case.turns
    }
    # The standard's own lines are in both on purpose (the suggestion request).
    script = {folder.fold(canonical_text(key)) for key in RequiredLineMatcher.FIXED_LINES}
    assert sorted((configured & sentences) - script) == []
