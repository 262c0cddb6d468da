"""Normalisation and the phrase matchers, one behaviour at a time."""

from __future__ import annotations

from functools import lru_cache

import pytest

from compliance.context import CheckContext
from compliance.matchers import (
    AckMatcher,
    AgentScan,
    CueBook,
    CueList,
    CueMatcher,
    ForbiddenHit,
    ForbiddenMatcher,
    GreetingParser,
    RequiredLineMatcher,
    folder_for,
)
from compliance.normalize import TextFolder
from compliance.policy import Policy, load_policy
from compliance.wordlists import load_wordlist
from scripts_library import ScriptKey, canonical_text


@lru_cache(maxsize=1)
def policy() -> Policy:
    return load_policy()


@lru_cache(maxsize=1)
def context() -> CheckContext:
    return CheckContext.build(policy())


def folder() -> TextFolder:
    return folder_for(policy())


# -------------------------------------------------------------- normalise --


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ＳＢ你好", "sb你好"),
        ("USB接口", "usb接口"),
        ("傻逼 你們 賤", "傻逼 你们 贱"),
        ("！？１２３", "！？123"),  # punctuation keeps its width
        ("İ", "İ"),  # lowers to two characters: left as it is, so spans stay exact
    ],
)
def test_fold_is_one_to_one(text: str, folded: str) -> None:
    assert folder().fold(text) == folded
    assert len(folder().fold(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "normalised", "positions"),
    [
        ("傻 逼", "傻逼", (0, 2)),
        ("傻1逼", "傻逼", (0, 2)),
        ("傻_-*逼", "傻逼", (0, 4)),
        ("第12天", "第天", (0, 3)),
        ("usb 3.0", "usb30", (0, 1, 2, 4, 6)),
        ("A1傻", "a1傻", (0, 1, 2)),
    ],
)
def test_normalise_with_map(text: str, normalised: str, positions: tuple[int, ...]) -> None:
    mapped = folder().normalize_with_map(text)
    assert (mapped.text, mapped.positions) == (normalised, positions)
    assert folder().normalize(text) == normalised


def test_traditional_to_simplified_can_be_switched_off() -> None:
    assert TextFolder(" ", traditional_to_simplified=False).fold("你們") == "你們"
    assert TextFolder(" ", traditional_to_simplified=True).fold("你們") == "你们"


# -------------------------------------------------------------- forbidden --


def hits(text: str) -> list[tuple[str, str, tuple[int, int], str]]:
    return [(h.rule, h.phrase, h.span, h.matched) for h in context().forbidden.find(text)]


def test_forbidden_hit_carries_list_rule_phrase_and_original_span() -> None:
    (hit,) = ForbiddenMatcher(policy()).find("真是傻 逼了")
    assert (hit.list_name, hit.rule, hit.phrase, hit.span, hit.matched) == (
        "profanity",
        "LNG001",
        "傻逼",
        (2, 5),
        "傻 逼",
    )
    assert hit.source == "forbidden.profanity"
    assert hit.wordlist is None


def test_wordlist_hits_name_the_wordlist() -> None:
    (hit,) = context().forbidden.find("王八蛋")
    assert (hit.rule, hit.wordlist, hit.source) == (
        "LNG001",
        "ldnoobw_zh",
        "forbidden.profanity/ldnoobw_zh",
    )


def test_wordlist_single_characters_and_skipped_entries_are_not_used() -> None:
    words = load_wordlist("ldnoobw_zh")
    assert "性" in words and "刚度" in words and len(words) == 319
    assert hits("服务器性能好，刚度也够") == []


@pytest.mark.parametrize(
    "text",
    ["USB接口", "插上 usb3.0", "这是 SBC 板子", "lsblk 看一下", "dmesg|grep sb0"],
)
def test_latin_sb_only_as_a_word(text: str) -> None:
    assert [h for h in hits(text) if h[0] == "LNG001"] == []


@pytest.mark.parametrize("text", ["你是sb", "sb吧", "真 SB", "s.b"])
def test_latin_sb_as_a_word_matches(text: str) -> None:
    assert [h[1] for h in hits(text) if h[0] == "LNG001"] == ["sb"]


def test_exception_word_containing_the_phrase_cancels_only_that_hit() -> None:
    assert hits("往下滚动就行") == []
    assert [h[3] for h in hits("滚动一下，不行就滚")] == ["滚"]
    assert hits("清理垃圾文件") == []


def test_context_exception_word_cancels_the_phrase_in_that_message() -> None:
    assert hits("防火墙把这个地址加入黑名单了") == []
    assert [h[0] for h in hits("再闹就把您加入黑名单")] == ["LNG003"]


def test_a_hit_inside_a_longer_hit_counts_once() -> None:
    assert hits("垃圾公司") == [("LNG005", "垃圾公司", (0, 4), "垃圾公司")]


def test_overlapping_hits_of_one_rule_merge() -> None:
    assert hits("我操你") == [("LNG001", "我操", (0, 3), "我操你")]


def test_customer_text_is_matched_the_same_way_but_rules_only_read_agents() -> None:
    # The matcher is neutral; SessionFacts.forbidden looks at agent lines only
    # (see the golden cases LNG001 "customer's swearing").
    assert [h[0] for h in hits("傻逼机器")] == ["LNG001"]


# ------------------------------------------------------------------- cues --


def test_remote_access_cue_and_its_negations() -> None:
    remote = CueMatcher(
        policy().phrases.remote_access,
        negations=policy().phrases.remote_negations,
        folder=folder(),
    )
    assert remote.matches("我远程帮您看一下")
    assert remote.matches("请装一下ToDesk")
    assert not remote.matches("远程解决不了，需要寄回")
    assert not remote.matches("机房无法远程")
    hit = remote.find("远程解决不了的话，先装个向日葵")
    assert hit is not None and (hit.cue, hit.span) == ("向日葵", (12, 15))
    assert not remote.matches("网站用的是 wordpress")  # rdp inside a word
    assert remote.matches("开一下 RDP 端口")


def test_questions_and_text_negations_cancel_resolution() -> None:
    phrases = policy().phrases
    resolved = CueMatcher(
        phrases.resolution_customer,
        negations=phrases.resolution_negations,
        negation_scope="text",
        skip_questions=True,
        folder=folder(),
    )
    assert resolved.matches("好了，谢谢")
    assert not resolved.matches("好了吗")
    assert not resolved.matches("现在可以了吗？")
    assert not resolved.matches("解决了没")
    assert not resolved.matches("好了一会儿又不行了")


def test_cue_book_finds_every_list_in_one_pass() -> None:
    found = context().customer_cues.find("等了半天，你们靠谱吗？气死了")
    assert {name: hit.cue for name, hit in found.items()} == {
        "complaint": "等了半天",
        "doubt": "靠谱吗",
        "emotion": "气死",
    }


# ------------------------------------------------------------------- acks --


@pytest.mark.parametrize(
    "text",
    ["好的", "好的，谢谢！", "嗯嗯好的呀", "收到了", "[抱拳]", "👍", "OK", "好的呢[玫瑰]", "哈哈"],
)
def test_acknowledgement_only(text: str) -> None:
    assert AckMatcher(policy().phrases.ack_only, folder()).is_ack_only(text)


@pytest.mark.parametrize(
    "text", ["好的？", "好的，那我等你消息", "[订单x]", "", "截图发您了", "可以开发票吗"]
)
def test_needs_a_reply(text: str) -> None:
    assert not AckMatcher(policy().phrases.ack_only, folder()).is_ack_only(text)


# --------------------------------------------------------- required lines --


@pytest.mark.parametrize(
    "text",
    [
        "感谢您对我们本次服务的理解和支持[玫瑰]",
        "感谢您对我们本次服务的理解和支持[鲜花表情]",
        "感谢您对我们本次服务的理解和支持🌹",
        "感谢您对我们这次服务的理解与支持！",
        "感谢您对我们本次服务理解和支持",
        "问题已经解决了。感谢您对我们本次服务的理解和支持，再见",
    ],
)
def test_thanks_line_is_matched_fuzzily(text: str) -> None:
    required = RequiredLineMatcher(policy())
    assert required.matches(ScriptKey.THANKS, text), required.score(ScriptKey.THANKS, text)


@pytest.mark.parametrize("text", ["感谢您", "谢谢", "感谢您的配合", "您的服务器已经修好了"])
def test_fragments_are_not_the_thanks_line(text: str) -> None:
    assert not RequiredLineMatcher(policy()).matches(ScriptKey.THANKS, text)


def test_suggestion_is_the_channel_rendering() -> None:
    required = RequiredLineMatcher(policy())
    assert required.canonical(ScriptKey.THANKS, "web") == canonical_text(ScriptKey.THANKS, "web")
    assert required.canonical(ScriptKey.THANKS, "phone") == canonical_text(ScriptKey.THANKS)


# --------------------------------------------------------------- greeting --


def test_greeting_name_and_staff_no_are_taken_exactly() -> None:
    parser = GreetingParser(policy())
    text = "您好，我是朴赛售后服务中心运维工程师欧阳娜娜，工号：A1818，很高兴为您服务[握手]"
    match = parser.parse(text)
    assert match is not None
    assert (match.name, match.staff_no, match.missing) == ("欧阳娜娜", "A1818", ())
    assert match.is_self_introduction
    assert match.name_span is not None and text[slice(*match.name_span)] == "欧阳娜娜"
    assert match.staff_span is not None and text[slice(*match.staff_span)] == "A1818"


def test_greeting_parts_missing_are_listed() -> None:
    match = GreetingParser(policy()).parse("您好，我是运维工程师张三，很高兴为你服务")
    assert match is not None
    assert (match.name, match.staff_no) == ("张三", None)
    assert match.missing == ("朴赛售后服务中心", "工号", "很高兴为您服务")
    assert not match.is_self_introduction


def test_no_greeting_attempt() -> None:
    assert GreetingParser(policy()).parse("请问服务器什么型号？") is None


# ------------------------------------------------------------- many texts --

# Texts that meet at the separator in awkward ways: digits next to CJK at a text's
# edge (a digit run between CJK characters is dropped, but not across texts), texts
# that are all filler or empty, Latin word boundaries at the edges, full width and
# traditional characters, cues and their negations.
EDGE_TEXTS = [
    "傻1",
    "2逼",
    "你这个傻 逼",
    "   ",
    "",
    "sb",
    "USB口坏了",
    "ＳＢ",
    "他媽的",
    "远程解决不了",
    "我远程帮您看一下",
    "好了吗",
    "好了",
    "滚动条",
    "你给我滚",
    "把你拉黑",
    "1",
    "垃圾文件清理一下",
    "我要投诉你们",
    "什么破服务！！！",
]


def assert_one_pass_is_per_text(ctx: CheckContext, texts: list[str]) -> list[list[ForbiddenHit]]:
    """One pass over `texts` (a session's messages) finds, text by text, what each text
    alone gives: both cue books; and the agent scan flags every text with a forbidden
    phrase or an agent cue.  Returns the forbidden hits."""
    fold = ctx.folder.fold_many(texts)
    pairs = list(zip(texts, fold, strict=True))
    for book in (ctx.agent_cues, ctx.customer_cues):
        assert book.find_many(texts, fold) == [book.find(t, f) for t, f in pairs]
    found = [ctx.forbidden.find(t, f) for t, f in pairs]
    maybe_forbidden, maybe_cue = ctx.agent_scan.scan(fold)
    assert {n for n, hits in enumerate(found) if hits} <= set(maybe_forbidden)
    assert {n for n, (t, f) in enumerate(pairs) if ctx.agent_cues.find(t, f)} <= set(maybe_cue)
    return found


@pytest.mark.parametrize("shift", range(len(EDGE_TEXTS)))
def test_find_many_is_find_per_text(shift: int) -> None:
    # Every text next to every other one, in one pass or one by one.
    texts = EDGE_TEXTS[shift:] + EDGE_TEXTS[:shift]
    assert any(assert_one_pass_is_per_text(context(), texts))  # the edge cases do hit


def test_find_many_with_a_separator_inside_a_text() -> None:
    assert_one_pass_is_per_text(context(), ["傻\x00逼", "你给我滚", "好了"])


def test_agent_scan_flags_exactly_the_texts_with_something() -> None:
    ctx = context()
    texts = ["您好", "我远程帮您看一下", "请稍等", "你给我滚", "好的", "问题已解决"]
    maybe_forbidden, maybe_cue = ctx.agent_scan.scan(ctx.folder.fold_many(texts))
    assert list(maybe_forbidden) == [3]
    assert list(maybe_cue) == [1, 5]
    assert ctx.agent_scan.scan([]) == ((), ())


def test_agent_scan_finds_cues_that_normalising_changes() -> None:
    # A cue with white space or digits in it is looked for through its longest
    # piece without them: normalising drops the space in "ssh 登录" and the digits
    # between 放 and 端 in "开放3389端口", but never the piece.
    folder = folder_for(policy())
    book = CueBook([CueList("remote", ("ssh 登录", "3389端口"))], folder)
    scan = AgentScan(ForbiddenMatcher(policy(), folder), book, folder)
    texts = ["请用 ssh 登录服务器", "需要开放3389端口", "3389", "登录", "你好"]
    folded = folder.fold_many(texts)
    _forbidden, maybe_cue = scan.scan(folded)
    cued = [n for n, (t, f) in enumerate(zip(texts, folded, strict=True)) if book.find(t, f)]
    assert cued == [0, 1]
    assert set(cued) <= set(maybe_cue)
    assert 4 not in maybe_cue
    # A cue of digits alone has no such piece: every text is looked at.
    digits = CueBook([CueList("remote", ("3389",))], folder)
    scan = AgentScan(ForbiddenMatcher(policy(), folder), digits, folder)
    assert list(scan.scan(folded)[1]) == [0, 1, 2, 3, 4]
