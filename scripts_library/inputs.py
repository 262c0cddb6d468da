"""Typed, validated inputs of the script lines, and the customer-addressing rule.

Each script line with variable parts takes one frozen dataclass; building it checks every
field, so a bad value fails where it is made, with a :class:`ScriptInputError` that names
the class and the field (``GreetingInputs.staff_no must be letters and digits ...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_CENTRE",
    "DEFAULT_MANAGER_TITLE",
    "DEFAULT_RESCHEDULE_REASON",
    "DEFAULT_SATISFACTION_SCALE",
    "DEFAULT_TITLE",
    "EscalationNoticeInputs",
    "ExtensionCallInputs",
    "GreetingInputs",
    "NoInputs",
    "OnsiteAppointmentInputs",
    "OnsiteRescheduleInputs",
    "ProgressUpdateInputs",
    "RestDayNoticeInputs",
    "ReturnShippingInputs",
    "ReviewInvitationInputs",
    "SatisfactionSurveyInputs",
    "ScriptInputError",
    "ScriptInputs",
    "WelcomeInputs",
    "address",
]

#: 【售后动作标准】1.a.1: the centre every greeting names.
DEFAULT_CENTRE = "朴赛售后服务中心"
#: 【售后动作标准】1.a.1: the engineer's title in the greeting.
DEFAULT_TITLE = "运维工程师"
#: 【售后沟通标准】2: when the customer's name is not known, say 您.
DEFAULT_ADDRESS = "您"
#: 【售后过程标准】1.3.b: who calls the customer to ask for the extension.
DEFAULT_MANAGER_TITLE = "售后服务经理"
#: 【售后过程标准】1.5 ※: why a visit is rescheduled, in the seed's words.
DEFAULT_RESCHEDULE_REASON = "交通、天气等不可控因素"
#: Seed 003 评分等级: label shown to the customer -> points scored for the engineer.
DEFAULT_SATISFACTION_SCALE: Mapping[str, int] = MappingProxyType(
    {"很满意": 5, "满意": 3, "一般": 2, "不满意": 0}
)

# 工号 and ticket / tracking numbers: ASCII only, because staff and carriers type them.
_STAFF_NO = re.compile(r"[A-Za-z0-9]{1,32}")
_REFERENCE_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ScriptInputError(ValueError):
    """An input of a script line is missing, of the wrong type or malformed."""

    def __init__(self, owner: str, field_name: str, problem: str, value: object) -> None:
        self.field = f"{owner}.{field_name}"
        super().__init__(f"{self.field} {problem}, got {value!r}")


def _text(owner: object, name: str, value: object) -> str:
    """Check one line of text: a non-empty ``str`` without surrounding spaces or control
    characters (a chat line is one line, and a stray space would split a name)."""
    cls = type(owner).__name__
    if not isinstance(value, str):
        raise ScriptInputError(cls, name, "must be a string", value)
    if not value.strip():
        raise ScriptInputError(cls, name, "must not be empty", value)
    if value != value.strip():
        raise ScriptInputError(cls, name, "must not start or end with whitespace", value)
    if _CONTROL.search(value):
        raise ScriptInputError(cls, name, "must be one line without control characters", value)
    return value


def _pattern(owner: object, name: str, value: object, pattern: re.Pattern[str], what: str) -> None:
    text = _text(owner, name, value)
    if not pattern.fullmatch(text):
        raise ScriptInputError(type(owner).__name__, name, f"must be {what}", value)


def _address(owner: object, value: object) -> None:
    text = _text(owner, "address", value)
    # 【售后沟通标准】2 / LNG006: the informal 你 is never a way to address a customer.
    if "你" in text:
        raise ScriptInputError(
            type(owner).__name__, "address", "must be 您 or a name with title, not 你", value
        )


def _date(owner: object, name: str, value: object) -> None:
    if not isinstance(value, date):
        raise ScriptInputError(type(owner).__name__, name, "must be a datetime.date", value)


def _positive_int(owner: object, name: str, value: object) -> None:
    # bool is an int subclass; True hours is a caller's bug, not 1 hour.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ScriptInputError(type(owner).__name__, name, "must be a positive integer", value)


def address(surname: str | None, title: str | None) -> str:
    """How to address the customer (【售后沟通标准】2).

    ``张`` + ``总`` gives ``张总``, ``张`` + ``老师`` gives ``张老师``; when either part is
    unknown (``None`` or blank) the answer is ``您``.
    """
    surname = (surname or "").strip()
    title = (title or "").strip()
    if not surname or not title:
        return DEFAULT_ADDRESS
    return surname + title


@dataclass(frozen=True)
class ScriptInputs:
    """Base of every script line's inputs."""

    def template_context(self) -> dict[str, Any]:
        """The template variables: one per field, under the field's name."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class NoInputs(ScriptInputs):
    """Inputs of a line with no variable parts (the seed's fixed sentences)."""


@dataclass(frozen=True)
class GreetingInputs(ScriptInputs):
    """【售后动作标准】1.a.1 自我介绍: who is speaking."""

    engineer_name: str
    staff_no: str
    centre: str = DEFAULT_CENTRE
    title: str = DEFAULT_TITLE

    def __post_init__(self) -> None:
        _text(self, "engineer_name", self.engineer_name)
        _pattern(self, "staff_no", self.staff_no, _STAFF_NO, "1-32 ASCII letters and digits")
        _text(self, "centre", self.centre)
        _text(self, "title", self.title)


@dataclass(frozen=True)
class ReviewInvitationInputs(ScriptInputs):
    """【售后动作标准】2.a.2 邀评."""

    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _address(self, self.address)


@dataclass(frozen=True)
class WelcomeInputs(ScriptInputs):
    """【售后过程标准】1.1 服务时段: who answers, when chat is attended, the 7×24 line."""

    chat_hours: str
    hotline: str
    phone_hours: str = "7×24小时"
    centre: str = DEFAULT_CENTRE

    def __post_init__(self) -> None:
        for name in ("chat_hours", "hotline", "phone_hours", "centre"):
            _text(self, name, getattr(self, name))


@dataclass(frozen=True)
class SatisfactionSurveyInputs(ScriptInputs):
    """Seed 003 评分等级: the choices offered, in order, with their points.

    Points are shown to the customer only when ``show_points`` is true.
    """

    scale: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SATISFACTION_SCALE))
    show_points: bool = False
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        if not isinstance(self.scale, Mapping) or not self.scale:
            raise ScriptInputError(
                type(self).__name__,
                "scale",
                "must be a non-empty mapping label -> points",
                self.scale,
            )
        for label, points in self.scale.items():
            _text(self, "scale", label)
            if isinstance(points, bool) or not isinstance(points, int) or points < 0:
                raise ScriptInputError(
                    type(self).__name__, "scale", f"points of {label!r} must be an int >= 0", points
                )
        if not isinstance(self.show_points, bool):
            raise ScriptInputError(
                type(self).__name__, "show_points", "must be a bool", self.show_points
            )
        _address(self, self.address)
        # A read-only snapshot: the caller's dict may change later, the inputs may not.
        object.__setattr__(self, "scale", MappingProxyType(dict(self.scale)))


@dataclass(frozen=True)
class RestDayNoticeInputs(ScriptInputs):
    """【售后受理标准】2 ※: when the case will be handled first."""

    next_working_day: date
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _date(self, "next_working_day", self.next_working_day)
        _address(self, self.address)


@dataclass(frozen=True)
class ProgressUpdateInputs(ScriptInputs):
    """【售后过程标准】2.1.a/b: the ticket and a one-line summary of where it stands."""

    ticket_no: str
    status: str
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _pattern(self, "ticket_no", self.ticket_no, _REFERENCE_NO, "ASCII letters, digits, - and _")
        _text(self, "status", self.status)
        _address(self, self.address)


@dataclass(frozen=True)
class ExtensionCallInputs(ScriptInputs):
    """【售后过程标准】1.3.b: the manager who calls, and the one extension asked for."""

    manager_name: str
    extension_hours: int = 4
    manager_title: str = DEFAULT_MANAGER_TITLE
    centre: str = DEFAULT_CENTRE
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _text(self, "manager_name", self.manager_name)
        _positive_int(self, "extension_hours", self.extension_hours)
        _text(self, "manager_title", self.manager_title)
        _text(self, "centre", self.centre)
        _address(self, self.address)


@dataclass(frozen=True)
class EscalationNoticeInputs(ScriptInputs):
    """【售后过程标准】1.3.c: the ticket (optional) escalated to the technical department."""

    ticket_no: str | None = None
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        if self.ticket_no is not None:
            _pattern(
                self, "ticket_no", self.ticket_no, _REFERENCE_NO, "ASCII letters, digits, - and _"
            )
        _address(self, self.address)


@dataclass(frozen=True)
class ReturnShippingInputs(ScriptInputs):
    """【售后交付标准】2 归还预约: how and (optionally) when the server is sent back."""

    carrier: str
    tracking_no: str
    ship_date: date | None = None
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _text(self, "carrier", self.carrier)
        _pattern(
            self, "tracking_no", self.tracking_no, _REFERENCE_NO, "ASCII letters, digits, - and _"
        )
        if self.ship_date is not None:
            _date(self, "ship_date", self.ship_date)
        _address(self, self.address)


@dataclass(frozen=True)
class OnsiteAppointmentInputs(ScriptInputs):
    """【售后过程标准】1.5 上门时效: the visit date, the distance tier and its working days.

    ``distance_tier`` is how far the server is from the service point, as the customer
    reads it (``100公里以内``, ``100~300公里``, ``300公里以上``). ``working_days`` is the
    tier's limit (2 or 3); ``None`` for the over-300 km tier, whose date is negotiated.
    """

    visit_date: date
    distance_tier: str
    working_days: int | None = None
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _date(self, "visit_date", self.visit_date)
        _text(self, "distance_tier", self.distance_tier)
        if self.working_days is not None:
            _positive_int(self, "working_days", self.working_days)
        _address(self, self.address)


@dataclass(frozen=True)
class OnsiteRescheduleInputs(ScriptInputs):
    """【售后过程标准】1.5 ※: the visit cannot be kept; propose a new date."""

    new_date: date
    reason: str = DEFAULT_RESCHEDULE_REASON
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _date(self, "new_date", self.new_date)
        _text(self, "reason", self.reason)
        _address(self, self.address)
