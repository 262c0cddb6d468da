"""The rules of SPEC §6, one class per code, in one explicit registry.

`RULES` is the only list the checker runs; a meta-test checks that it holds every
code of `compliance.codes.RULE_CODES`, each documented and with golden cases.
The contract every rule follows is in `compliance.rules.base`.
"""

from __future__ import annotations

from compliance.rules.base import NoOptions, Rule, parse_options
from compliance.rules.complaints import ComplaintReplyTimeout, ComplaintResolutionTimeout
from compliance.rules.greeting import GreetingIdentity, GreetingMissing
from compliance.rules.language import (
    Abuse,
    BlockThreat,
    CompanyDamaging,
    ComplaintUnacknowledged,
    DoubtUnacknowledged,
    EmotionUnacknowledged,
    InformalAddress,
    Profanity,
    WalkAway,
)
from compliance.rules.scripts import (
    BackupWarningMissing,
    ResponsibilityMissing,
    RestDayNoticeMissing,
    SuggestionPressed,
    ThanksMissing,
)
from compliance.rules.timing import (
    AcceptTimeout,
    FirstResponse,
    ProgressUpdateMissing,
    ReplyTimeout,
    SolutionTimeout,
)

__all__ = ["RULES", "NoOptions", "Rule", "parse_options", "rule_by_code"]

RULES: tuple[type[Rule], ...] = (
    GreetingMissing,
    GreetingIdentity,
    BackupWarningMissing,
    ThanksMissing,
    ResponsibilityMissing,
    SuggestionPressed,
    RestDayNoticeMissing,
    Profanity,
    Abuse,
    BlockThreat,
    WalkAway,
    CompanyDamaging,
    InformalAddress,
    ComplaintUnacknowledged,
    DoubtUnacknowledged,
    EmotionUnacknowledged,
    FirstResponse,
    ReplyTimeout,
    AcceptTimeout,
    SolutionTimeout,
    ProgressUpdateMissing,
    ComplaintReplyTimeout,
    ComplaintResolutionTimeout,
)


def rule_by_code(code: str) -> type[Rule]:
    """The registered rule class of `code` (KeyError when none)."""
    for rule in RULES:
        if rule.code == code:
            return rule
    raise KeyError(code)
