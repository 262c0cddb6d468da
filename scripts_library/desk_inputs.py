"""Inputs of the lines that tell the customer where they stand: the ticket number, its
status on request, the out-of-hours notice, the handover to another engineer, and the
question after a low rating.

Kept apart from `scripts_library.inputs` (the standard's conversation lines) with the
same checks, so a bad value names the class and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scripts_library.inputs import (
    _REFERENCE_NO,
    _STAFF_NO,
    DEFAULT_ADDRESS,
    DEFAULT_TITLE,
    ScriptInputError,
    ScriptInputs,
    _address,
    _pattern,
    _text,
)

__all__ = [
    "DEFAULT_LOW_RATING_REASONS",
    "AfterHoursNoticeInputs",
    "HandoverInputs",
    "SatisfactionReasonInputs",
    "TicketNumberInputs",
    "TicketStatusInputs",
]

# Seed 003's service form, question 4: 您不满意的原因是什么：服务态度 技术水平 响应速度.
DEFAULT_LOW_RATING_REASONS: tuple[str, ...] = ("服务态度", "技术水平", "响应速度")

_TICKET_NO = "ASCII letters, digits, - and _"


@dataclass(frozen=True)
class TicketNumberInputs(ScriptInputs):
    """The ticket number, right after the greeting: what to quote on the 400 line."""

    ticket_no: str
    hotline: str

    def __post_init__(self) -> None:
        _pattern(self, "ticket_no", self.ticket_no, _REFERENCE_NO, _TICKET_NO)
        _text(self, "hotline", self.hotline)


@dataclass(frozen=True)
class TicketStatusInputs(ScriptInputs):
    """A ticket's status on the customer's request (查询工单 PS-…)."""

    ticket_no: str
    status: str
    # When the ticket last moved, as the customer reads it (11月23日 10:05).
    updated: str
    engineer_name: str | None = None
    staff_no: str | None = None

    def __post_init__(self) -> None:
        _pattern(self, "ticket_no", self.ticket_no, _REFERENCE_NO, _TICKET_NO)
        _text(self, "status", self.status)
        _text(self, "updated", self.updated)
        if (self.engineer_name is None) != (self.staff_no is None):
            raise ScriptInputError(
                type(self).__name__, "staff_no", "comes with engineer_name", self.staff_no
            )
        if self.engineer_name is not None:
            _text(self, "engineer_name", self.engineer_name)
            _pattern(self, "staff_no", self.staff_no, _STAFF_NO, "1-32 ASCII letters and digits")


@dataclass(frozen=True)
class AfterHoursNoticeInputs(ScriptInputs):
    """Out of attended hours: the ticket is logged and when a person will answer."""

    ticket_no: str
    chat_hours: str
    # When the first person answers, as the customer reads it (11月24日（周二）09:30).
    answer_at: str
    hotline: str
    # A rest day: say how an emergency still reaches the engineer on duty.
    rest_day: bool = False
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _pattern(self, "ticket_no", self.ticket_no, _REFERENCE_NO, _TICKET_NO)
        for name in ("chat_hours", "answer_at", "hotline"):
            _text(self, name, getattr(self, name))
        if not isinstance(self.rest_day, bool):
            raise ScriptInputError(type(self).__name__, "rest_day", "must be a bool", self.rest_day)
        _address(self, self.address)


@dataclass(frozen=True)
class HandoverInputs(ScriptInputs):
    """Another engineer takes the ticket over: who, instead of a second greeting."""

    engineer_name: str
    staff_no: str
    title: str = DEFAULT_TITLE
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _text(self, "engineer_name", self.engineer_name)
        _pattern(self, "staff_no", self.staff_no, _STAFF_NO, "1-32 ASCII letters and digits")
        _text(self, "title", self.title)
        _address(self, self.address)


@dataclass(frozen=True)
class SatisfactionReasonInputs(ScriptInputs):
    """After 一般 / 不满意: which of seed 003's reasons, and any advice."""

    reasons: tuple[str, ...] = field(default=DEFAULT_LOW_RATING_REASONS)
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        if not isinstance(self.reasons, tuple) or not self.reasons:
            raise ScriptInputError(
                type(self).__name__, "reasons", "must be a non-empty tuple", self.reasons
            )
        for reason in self.reasons:
            _text(self, "reasons", reason)
        _address(self, self.address)
