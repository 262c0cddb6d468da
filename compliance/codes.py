"""The stable rule codes of SPEC §6.

A code never changes meaning; a retired code stays listed here (marked
retired) so that it is never reused.  The rule registry is checked against
this table by a meta-test, and the policy loader uses it to reject an unknown
code in `[rules.X]`, `[forbidden.*].rule` or `[scoring].fatal`.
"""

from __future__ import annotations

RULE_CODES: dict[str, str] = {
    "SCR001": "greeting-missing",
    "SCR002": "greeting-identity",
    "SCR003": "backup-warning-missing",
    "SCR004": "thanks-missing",
    "SCR005": "responsibility-missing",
    "SCR006": "suggestion-pressed",
    "SCR007": "rest-day-notice-missing",
    "LNG001": "profanity",
    "LNG002": "abuse",
    "LNG003": "block-threat",
    "LNG004": "walk-away",
    "LNG005": "company-damaging",
    "LNG006": "informal-address",
    "LNG007": "complaint-unacknowledged",
    "LNG008": "doubt-unacknowledged",
    "LNG009": "emotion-unacknowledged",
    "SLA001": "first-response",
    "SLA002": "reply-timeout",
    "SLA003": "accept-timeout",
    "SLA004": "solution-timeout",
    "SLA005": "progress-update-missing",
    "SLA006": "complaint-reply-timeout",
    "SLA007": "complaint-resolution-timeout",
}

RETIRED_CODES: frozenset[str] = frozenset()

RULE_PREFIXES: frozenset[str] = frozenset(code[:3] for code in RULE_CODES)


def expand_selection(items: list[str] | tuple[str, ...], *, what: str) -> frozenset[str]:
    """Turn `--select` / `--ignore` items (codes or prefixes such as ``LNG``) into codes.

    Raises ValueError naming the unknown item.
    """
    codes: set[str] = set()
    for raw in items:
        for item in (part.strip().upper() for part in raw.split(",")):
            if not item:
                continue
            matched = {code for code in RULE_CODES if code.startswith(item)}
            if not matched:
                known = ", ".join(sorted(RULE_PREFIXES))
                raise ValueError(
                    f"{what}: unknown rule code or prefix {item!r} (prefixes: {known})"
                )
            codes |= matched
    return frozenset(codes)
