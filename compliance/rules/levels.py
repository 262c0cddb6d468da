"""Seed 002's fault levels for SLA001: the session's level and its response time.

1.1.7 支持响应时间表: “一级故障……小于30分钟 … 三级故障……小于2小时 … 其它问题……小于6小时”.
The level is the first ``ticket_opened`` line's ``fault_level``; without one the bot's
classifier (`compliance.classify`) reads the session's first customer message, and the
finding says the level was inferred (推断).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from compliance.model import Line
from compliance.rules.facts import SessionFacts

if TYPE_CHECKING:
    from compliance.context import CheckContext


@dataclass(frozen=True, slots=True)
class LevelLimit:
    """A fault level's response time (seed 002 1.1.7), and how the level was known."""

    name: str
    seconds: int
    inferred: bool
    note: str = ""


def level_limit(facts: SessionFacts, ctx: CheckContext, first: Line) -> LevelLimit | None:
    """The session's fault-level response limit under a fault-level profile, else None.

    The level is the first ``ticket_opened`` line's ``fault_level``; without one, the
    classifier's reading of the first customer message (and the finding says so)."""
    policy = ctx.policy
    if not policy.sla.response_by_fault_level:
        return None
    given = next((e.fault_level for e in facts.events("ticket_opened") if e.fault_level), None)
    if given is not None:
        level = policy.fault_level(given)
        if level is None or level.response_s is None:
            return None
        return LevelLimit(level.name, level.response_s, False)
    level, hit = ctx.classifier.fault_level(first.text or "")
    if level is None or level.response_s is None:
        return None
    cue = f"（“{hit.cue}”）" if hit is not None else ""
    note = f"；转录未标注故障等级，按客户首条消息{cue}推断为{level.name}"
    return LevelLimit(level.name, level.response_s, True, note)
