"""Action bodies: one typed model per action, parsed with the API's field errors and
described for the console's forms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from bot.http import ApiError
from bot.lifecycle.bodies import form_inputs, given, parse_body
from compliance.policy import Policy


@dataclass(frozen=True, slots=True)
class Sample:
    title: str = given("标题", max_len=8)
    when: date = given("日期")
    km: float | None = given("距离", default=None)
    kind: str | None = given("类型", default=None, choices=(("a", "甲"), ("b", "乙")))
    notify: bool = given("通知", default=True)
    intermittent: bool | None = given("间歇", default=None)
    codes: tuple[str, ...] = given("代码", default=(), options=lambda _p: [("x", "叉")])


def test_a_body_parses_with_its_types_and_defaults() -> None:
    body = parse_body(Sample, {"title": " 主板 ", "when": "2026-11-23"}, text_limit=100)
    assert body == Sample("主板", date(2026, 11, 23), None, None, True, None, ())
    full = parse_body(
        Sample,
        {
            "title": "主板",
            "when": "2026-11-23",
            "km": 12,
            "kind": "b",
            "notify": False,
            "intermittent": True,
            "codes": ["x"],
        },
        text_limit=100,
    )
    assert (full.km, full.kind, full.notify, full.intermittent, full.codes) == (
        12.0,
        "b",
        False,
        True,
        ("x",),
    )


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"when": "2026-11-23"}, "title", "missing_field"),
        ({"title": "x" * 9, "when": "2026-11-23"}, "title", "field_too_long"),
        ({"title": "x", "when": "2026-02-30"}, "when", "bad_field"),
        ({"title": "x", "when": "2026-11-23", "km": "far"}, "km", "bad_field"),
        ({"title": "x", "when": "2026-11-23", "kind": "c"}, "kind", "bad_field"),
        ({"title": "x", "when": "2026-11-23", "codes": "x"}, "codes", "bad_field"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(data: dict[str, object], field: str, code: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_body(Sample, data, text_limit=100)
    assert (caught.value.status, caught.value.code, caught.value.extra["field"]) == (
        400,
        code,
        field,
    )


def test_the_form_of_a_body(policy: Policy) -> None:
    inputs = {i["name"]: i for i in form_inputs(Sample, policy, text_limit=100)}
    assert [i["widget"] for i in inputs.values()] == [
        "text",
        "date",
        "number",
        "select",
        "checkbox",
        "tristate",
        "checkboxes",
    ]
    assert inputs["title"]["required"] and inputs["when"]["required"]
    assert not inputs["km"]["required"]
    assert inputs["kind"]["options"] == [("a", "甲"), ("b", "乙")]
    assert inputs["codes"]["options"] == [("x", "叉")]
    assert inputs["notify"]["checked"] is True


def test_a_field_not_declared_with_given_is_refused() -> None:
    @dataclass(frozen=True)
    class Loose:
        text: str

    with pytest.raises(TypeError, match="not declared with given"):
        parse_body(Loose, {"text": "x"}, text_limit=10)
