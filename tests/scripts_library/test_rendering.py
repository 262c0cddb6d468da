"""Rendering behaviour: seed fidelity, greeting parts, channels and emoji, HTML escaping."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scripts_library import (
    CHANNELS,
    EMOJI,
    GREETING_PARTS,
    SCRIPT_LINES,
    GreetingInputs,
    NoInputs,
    ProgressUpdateInputs,
    ReviewInvitationInputs,
    ScriptKey,
    canonical_text,
    cn_date,
    emoji_text,
    greeting_parts,
    render,
)
from scripts_library.inputs import (
    EscalationNoticeInputs,
    ExtensionCallInputs,
    OnsiteAppointmentInputs,
    OnsiteRescheduleInputs,
    RestDayNoticeInputs,
    ReturnShippingInputs,
    SatisfactionSurveyInputs,
)

SEED_000 = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_cc96201e9c6e7169.txt"

FIXED_KEYS = [key for key, line in SCRIPT_LINES.items() if line.fixed]


def _as_seed_writes_it(text: str) -> str:
    """Put the seed's emoji descriptions back in place of the WeChat codes."""
    for emoji in EMOJI.values():
        text = text.replace(emoji.code, emoji.seed_text)
    return text


@pytest.fixture(scope="module")
def seed_000() -> str:
    if not SEED_000.is_file():
        pytest.skip(f"seed 000 not found at {SEED_000} (the shared seeds live beside the repo)")
    return SEED_000.read_text(encoding="utf-8")


@pytest.mark.parametrize("key", FIXED_KEYS, ids=[key.value for key in FIXED_KEYS])
def test_fixed_lines_are_quoted_verbatim_from_seed_000(key: ScriptKey, seed_000: str) -> None:
    assert _as_seed_writes_it(canonical_text(key)) in seed_000


def test_spec_greeting_is_quoted_verbatim_from_seed_000(seed_000: str) -> None:
    greeting = render(ScriptKey.GREETING, GreetingInputs("张三", "1818"))
    assert _as_seed_writes_it(greeting) in seed_000


def test_greeting_is_made_of_the_greeting_parts() -> None:
    opening, centre, title, staff_no_label, closing = GREETING_PARTS
    expected = f"{opening}，我是{centre}{title}张三，{staff_no_label}1818，{closing}[握手]"
    assert render(ScriptKey.GREETING, GreetingInputs("张三", "1818")) == expected


def test_greeting_parts_follow_the_centre_and_title() -> None:
    parts = greeting_parts("朴赛北京售后服务中心", "工程师")
    assert parts.centre == "朴赛北京售后服务中心"
    assert parts.title == "工程师"
    inputs = GreetingInputs("张三", "1818", centre=parts.centre, title=parts.title)
    text = render(ScriptKey.GREETING, inputs)
    positions = [text.index(part) for part in parts]
    assert positions == sorted(positions)


def test_canonical_text_is_what_render_says() -> None:
    for key in FIXED_KEYS:
        assert canonical_text(key) == render(key)
        assert canonical_text(key, "web") == render(key, NoInputs(), "web")
    assert canonical_text("thanks") == "感谢您对我们本次服务的理解和支持[玫瑰]"


def test_canonical_text_refuses_a_line_with_variable_parts() -> None:
    with pytest.raises(ValueError, match=r"'greeting' has variable parts \(GreetingInputs\)"):
        canonical_text(ScriptKey.GREETING)


@pytest.mark.parametrize("channel", sorted(CHANNELS - {"web"}))
def test_chat_channels_use_wechat_codes(channel: str) -> None:
    greeting = render(ScriptKey.GREETING, GreetingInputs("张三", "1818"), channel)
    assert greeting.endswith("很高兴为您服务[握手]")
    assert canonical_text(ScriptKey.THANKS, channel).endswith("支持[玫瑰]")
    assert canonical_text(ScriptKey.RESPONSIBILITY, channel).endswith("太愉快了[微笑]")
    assert canonical_text(ScriptKey.SUGGESTION_REQUEST, channel).endswith("指导[抱拳]")


def test_web_channel_uses_unicode_emoji() -> None:
    greeting = render(ScriptKey.GREETING, GreetingInputs("张三", "1818"), "web")
    assert greeting.endswith("很高兴为您服务🤝")
    assert canonical_text(ScriptKey.THANKS, "web").endswith("支持🌹")
    assert canonical_text(ScriptKey.RESPONSIBILITY, "web").endswith("太愉快了🙂")
    assert canonical_text(ScriptKey.SUGGESTION_REQUEST, "web").endswith("指导🙏")
    for key in ScriptKey:
        if SCRIPT_LINES[key].fixed:
            assert "[" not in canonical_text(key, "web")


def test_emoji_forms() -> None:
    assert EMOJI["鲜花"].forms == ("[鲜花表情]", "[玫瑰]", "🌹")
    assert emoji_text("握手", "wecom") == "[握手]"
    assert emoji_text("握手", "web") == "🤝"
    with pytest.raises(ValueError, match="unknown emoji '点赞'"):
        emoji_text("点赞", "wechat")


def test_unknown_channel_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown channel 'sms'; expected one of: jd, phone"):
        render(ScriptKey.GREETING, GreetingInputs("张三", "1818"), "sms")


def test_unknown_key_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown script line 'farewell'"):
        render("farewell")


def test_key_may_be_given_by_value() -> None:
    inputs = GreetingInputs("张三", "1818")
    assert render("greeting", inputs) == render(ScriptKey.GREETING, inputs)


def test_wrong_inputs_type_is_refused() -> None:
    with pytest.raises(ValueError, match="'greeting' takes GreetingInputs, got NoInputs"):
        render(ScriptKey.GREETING, NoInputs())
    with pytest.raises(ValueError, match="'greeting' takes GreetingInputs, got NoneType"):
        render(ScriptKey.GREETING)
    with pytest.raises(ValueError, match="'thanks' takes NoInputs, got ReviewInvitationInputs"):
        render(ScriptKey.THANKS, ReviewInvitationInputs())


def test_html_output_escapes_inputs_and_text_output_keeps_them() -> None:
    status = '<script>alert("x")</script> & 主板'
    inputs = ProgressUpdateInputs("T1", status)
    text = render(ScriptKey.PROGRESS_DAY4, inputs, "web")
    page = render(ScriptKey.PROGRESS_DAY4, inputs, "web", html=True)
    assert f"处理进度：{status}。" in text
    assert "<script>" not in page
    assert "处理进度：&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; 主板。" in page
    # Only the inputs change: the template's own words are identical.
    assert page.replace(
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp;", ""
    ) == text.replace('<script>alert("x")</script> &', "")


def test_html_greeting_escapes_the_name() -> None:
    inputs = GreetingInputs("<b>张三</b>", "1818")
    page = render(ScriptKey.GREETING, inputs, "web", html=True)
    assert (
        page
        == "您好，我是朴赛售后服务中心运维工程师&lt;b&gt;张三&lt;/b&gt;，工号1818，很高兴为您服务🤝"
    )
    assert "<b>张三</b>" in render(ScriptKey.GREETING, inputs, "web")


def test_html_rendering_does_not_change_text_rendering_afterwards() -> None:
    inputs = GreetingInputs("<i>张三</i>", "1818")
    render(ScriptKey.GREETING, inputs, html=True)
    assert render(ScriptKey.GREETING, inputs).startswith("您好，我是朴赛售后服务中心运维工程师<i>")


def test_status_closing_punctuation_is_not_doubled() -> None:
    for status in ("正在更换主板", "正在更换主板。", "正在更换主板！", "正在更换主板；"):
        text = render(ScriptKey.PROGRESS_DAY4, ProgressUpdateInputs("T1", status))
        assert "正在更换主板。我们会持续跟进" in text, status


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 23), "11月23日（周一）"),
        (date(2026, 11, 22), "11月22日（周日）"),
        (date(2027, 1, 2), "1月2日（周六）"),
    ],
)
def test_cn_date(day: date, expected: str) -> None:
    assert cn_date(day) == expected


def test_no_rendering_addresses_the_customer_informally() -> None:
    # LNG006: the lines themselves must never say 你.
    texts = [canonical_text(key) for key in FIXED_KEYS]
    texts += [
        render(ScriptKey.GREETING, GreetingInputs("张三", "1818")),
        render(ScriptKey.REVIEW_INVITATION, ReviewInvitationInputs()),
        render(ScriptKey.SATISFACTION_SURVEY, SatisfactionSurveyInputs()),
        render(ScriptKey.REST_DAY_NOTICE, RestDayNoticeInputs(date(2026, 11, 23))),
        render(ScriptKey.PROGRESS_DAY4, ProgressUpdateInputs("T1", "检测中")),
        render(ScriptKey.PROGRESS_DAY7, ProgressUpdateInputs("T1", "检测中")),
        render(ScriptKey.EXTENSION_CALL, ExtensionCallInputs("王芳"), "phone"),
        render(ScriptKey.ESCALATION_NOTICE, EscalationNoticeInputs()),
        render(ScriptKey.RETURN_SHIPPING, ReturnShippingInputs("顺丰速运", "SF1")),
        render(
            ScriptKey.ONSITE_APPOINTMENT,
            OnsiteAppointmentInputs(date(2026, 11, 25), "100公里以内", 2),
        ),
        render(ScriptKey.ONSITE_RESCHEDULE, OnsiteRescheduleInputs(date(2026, 11, 26))),
    ]
    for text in texts:
        assert "你" not in text, text
