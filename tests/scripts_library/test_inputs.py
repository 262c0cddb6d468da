"""Input validation (errors name the field) and the addressing rule."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest

from scripts_library import (
    DEFAULT_SATISFACTION_SCALE,
    EscalationNoticeInputs,
    ExtensionCallInputs,
    GreetingInputs,
    OnsiteAppointmentInputs,
    OnsiteRescheduleInputs,
    ProgressUpdateInputs,
    RestDayNoticeInputs,
    ReturnShippingInputs,
    ReviewInvitationInputs,
    SatisfactionSurveyInputs,
    ScriptInputError,
    ScriptKey,
    address,
    render,
)


@pytest.mark.parametrize(
    ("surname", "title", "expected"),
    [
        ("张", "总", "张总"),
        ("张", "老师", "张老师"),
        ("欧阳", "经理", "欧阳经理"),
        (" 张 ", "总 ", "张总"),
        (None, None, "您"),
        ("张", None, "您"),
        (None, "总", "您"),
        ("", "老师", "您"),
        ("张", "  ", "您"),
    ],
)
def test_address(surname: str | None, title: str | None, expected: str) -> None:
    assert address(surname, title) == expected


def _bad(factory: Any, field: str, problem: str) -> None:
    with pytest.raises(ScriptInputError, match=re.escape(f"{field} {problem}")) as caught:
        factory()
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("factory", "field", "problem"),
    [
        (lambda: GreetingInputs("", "1818"), "GreetingInputs.engineer_name", "must not be empty"),
        (
            lambda: GreetingInputs("   ", "1818"),
            "GreetingInputs.engineer_name",
            "must not be empty",
        ),
        (
            lambda: GreetingInputs("张三 ", "1818"),
            "GreetingInputs.engineer_name",
            "must not start or end with whitespace",
        ),
        (
            lambda: GreetingInputs("张\n三", "1818"),
            "GreetingInputs.engineer_name",
            "must be one line without control characters",
        ),
        (lambda: GreetingInputs(None, "1818"), "GreetingInputs.engineer_name", "must be a string"),  # type: ignore[arg-type]
        (lambda: GreetingInputs("张三", 1818), "GreetingInputs.staff_no", "must be a string"),  # type: ignore[arg-type]
        (
            lambda: GreetingInputs("张三", "18 18"),
            "GreetingInputs.staff_no",
            "must be 1-32 ASCII letters and digits",
        ),
        (
            lambda: GreetingInputs("张三", "一八一八"),
            "GreetingInputs.staff_no",
            "must be 1-32 ASCII letters and digits",
        ),
        (lambda: GreetingInputs("张三", ""), "GreetingInputs.staff_no", "must not be empty"),
        (lambda: GreetingInputs("张三", "1818", centre=""), "GreetingInputs.centre", "must not"),
        (lambda: GreetingInputs("张三", "1818", title=""), "GreetingInputs.title", "must not"),
        (
            lambda: ReviewInvitationInputs(address="你"),
            "ReviewInvitationInputs.address",
            "must be 您 or a name with title, not 你",
        ),
        (lambda: ReviewInvitationInputs(address=""), "ReviewInvitationInputs.address", "must not"),
        (
            lambda: SatisfactionSurveyInputs({}),
            "SatisfactionSurveyInputs.scale",
            "must be a non-empty mapping label -> points",
        ),
        (
            lambda: SatisfactionSurveyInputs({"满意": -1}),
            "SatisfactionSurveyInputs.scale",
            "points of '满意' must be an int >= 0",
        ),
        (
            lambda: SatisfactionSurveyInputs({"满意": True}),
            "SatisfactionSurveyInputs.scale",
            "points of '满意' must be an int >= 0",
        ),
        (
            lambda: SatisfactionSurveyInputs({"": 1}),
            "SatisfactionSurveyInputs.scale",
            "must not be empty",
        ),
        (
            lambda: SatisfactionSurveyInputs(show_points="yes"),  # type: ignore[arg-type]
            "SatisfactionSurveyInputs.show_points",
            "must be a bool",
        ),
        (
            lambda: RestDayNoticeInputs("2026-11-23"),  # type: ignore[arg-type]
            "RestDayNoticeInputs.next_working_day",
            "must be a datetime.date",
        ),
        (
            lambda: ProgressUpdateInputs("T 1", "检测中"),
            "ProgressUpdateInputs.ticket_no",
            "must be ASCII letters, digits, - and _",
        ),
        (lambda: ProgressUpdateInputs("T1", ""), "ProgressUpdateInputs.status", "must not"),
        (
            lambda: ExtensionCallInputs("王芳", extension_hours=0),
            "ExtensionCallInputs.extension_hours",
            "must be a positive integer",
        ),
        (
            lambda: ExtensionCallInputs("王芳", extension_hours=True),
            "ExtensionCallInputs.extension_hours",
            "must be a positive integer",
        ),
        (
            lambda: ExtensionCallInputs("王芳", extension_hours=4.5),  # type: ignore[arg-type]
            "ExtensionCallInputs.extension_hours",
            "must be a positive integer",
        ),
        (lambda: ExtensionCallInputs(""), "ExtensionCallInputs.manager_name", "must not"),
        (
            lambda: EscalationNoticeInputs("工单1"),
            "EscalationNoticeInputs.ticket_no",
            "must be ASCII letters, digits, - and _",
        ),
        (lambda: ReturnShippingInputs("", "SF1"), "ReturnShippingInputs.carrier", "must not"),
        (
            lambda: ReturnShippingInputs("顺丰速运", "SF 1"),
            "ReturnShippingInputs.tracking_no",
            "must be ASCII letters, digits, - and _",
        ),
        (
            lambda: ReturnShippingInputs("顺丰速运", "SF1", ship_date="明天"),  # type: ignore[arg-type]
            "ReturnShippingInputs.ship_date",
            "must be a datetime.date",
        ),
        (
            lambda: OnsiteAppointmentInputs(date(2026, 11, 25), "100公里以内", 0),
            "OnsiteAppointmentInputs.working_days",
            "must be a positive integer",
        ),
        (
            lambda: OnsiteAppointmentInputs(date(2026, 11, 25), ""),
            "OnsiteAppointmentInputs.distance_tier",
            "must not",
        ),
        (
            lambda: OnsiteAppointmentInputs(None, "100公里以内"),  # type: ignore[arg-type]
            "OnsiteAppointmentInputs.visit_date",
            "must be a datetime.date",
        ),
        (
            lambda: OnsiteRescheduleInputs(date(2026, 11, 26), reason=""),
            "OnsiteRescheduleInputs.reason",
            "must not",
        ),
    ],
)
def test_bad_inputs_name_the_field(factory: Any, field: str, problem: str) -> None:
    _bad(factory, field, problem)


def test_error_message_shows_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        render(ScriptKey.GREETING, GreetingInputs("张三", "18-18"))
    assert str(caught.value) == (
        "GreetingInputs.staff_no must be 1-32 ASCII letters and digits, got '18-18'"
    )


def test_staff_no_accepts_letters_and_digits() -> None:
    assert GreetingInputs("张三", "A0027").staff_no == "A0027"


def test_datetime_is_accepted_as_its_date() -> None:
    moment = datetime(2026, 11, 23, 9, 30)
    assert "11月23日（周一）" in render(ScriptKey.REST_DAY_NOTICE, RestDayNoticeInputs(moment))


def test_survey_scale_is_snapshot_and_read_only() -> None:
    scale = {"满意": 3, "不满意": 0}
    inputs = SatisfactionSurveyInputs(scale)
    scale["一般"] = 2
    assert list(inputs.scale) == ["满意", "不满意"]
    with pytest.raises(TypeError):
        inputs.scale["一般"] = 2  # type: ignore[index]


def test_default_survey_scale_is_seed_003() -> None:
    assert dict(SatisfactionSurveyInputs().scale) == {
        "很满意": 5,
        "满意": 3,
        "一般": 2,
        "不满意": 0,
    }
    assert dict(DEFAULT_SATISFACTION_SCALE) == dict(SatisfactionSurveyInputs().scale)


def test_inputs_are_frozen() -> None:
    inputs = GreetingInputs("张三", "1818")
    with pytest.raises(AttributeError):
        inputs.staff_no = "9999"  # type: ignore[misc]
