"""Inputs of the lines spoken after the chat: the warranty outcome and the repair quote.

Kept apart from `scripts_library.inputs` (the conversation's lines) with the same
checks, so a bad value names the class and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scripts_library.inputs import (
    _REFERENCE_NO,
    DEFAULT_ADDRESS,
    ScriptInputError,
    ScriptInputs,
    _address,
    _pattern,
    _text,
)

__all__ = ["RepairQuoteInputs", "WarrantyOutcomeInputs", "yuan"]


def yuan(amount_fen: int) -> str:
    """An amount in fen as the customer reads it: 128000 → ``1,280.00元``."""
    return f"{amount_fen // 100:,}.{amount_fen % 100:02d}元"


@dataclass(frozen=True)
class WarrantyOutcomeInputs(ScriptInputs):
    """000 【售后过程标准】1.2 / 004 1.5: the warranty decision, why, and who pays.

    ``outcome`` is the tier as the customer reads it (``3个月内换新``, ``有偿维修``),
    ``reason`` the clause or the missing proof it rests on; ``free`` says whether
    the company bears the cost (004 1.5.1.1) or the work is quoted first (1.5.2.3).
    """

    ticket_no: str
    outcome: str
    reason: str
    free: bool
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _pattern(self, "ticket_no", self.ticket_no, _REFERENCE_NO, "ASCII letters, digits, - and _")
        _text(self, "outcome", self.outcome)
        _text(self, "reason", self.reason)
        if not isinstance(self.free, bool):
            raise ScriptInputError(type(self).__name__, "free", "must be a bool", self.free)
        _address(self, self.address)


@dataclass(frozen=True)
class RepairQuoteInputs(ScriptInputs):
    """004 1.5.2.3 / 1.5.3: the price of paid work, item by item, and the confirmation asked."""

    ticket_no: str
    amount_fen: int
    items: tuple[str, ...]
    address: str = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        _pattern(self, "ticket_no", self.ticket_no, _REFERENCE_NO, "ASCII letters, digits, - and _")
        owner = type(self).__name__
        if isinstance(self.amount_fen, bool) or not isinstance(self.amount_fen, int):
            raise ScriptInputError(owner, "amount_fen", "must be an integer", self.amount_fen)
        if self.amount_fen <= 0:
            raise ScriptInputError(owner, "amount_fen", "must be positive", self.amount_fen)
        if not isinstance(self.items, tuple) or not self.items:
            raise ScriptInputError(owner, "items", "must be a non-empty tuple", self.items)
        for item in self.items:
            _text(self, "items", item)
        _address(self, self.address)

    def template_context(self) -> dict[str, Any]:
        return {**super().template_context(), "amount": yuan(self.amount_fen)}
