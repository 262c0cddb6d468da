"""Warranty tier and on-site deadline: pure functions over the policy.

Seed 000 【售后过程标准】1.2 质保标准 counts every period "自产品签收次日起":
the sign-for day itself is not counted and the period starts the next day.
Month periods end the way Chinese law counts them (民法典 第二百零一条、
第二百零三条): the period's last day is the day of the expiry month with the
same number as the sign-for day, or that month's last day when it has no such
day.  Signed for on 2025-11-30, the 3-month replacement period ends on
2026-02-28; signed for on 2026-01-31, the 6-month one ends on 2026-07-31.

Any exclusion of 2.e (有偿保修范围 1–10) makes the repair paid, whatever the
dates say, and the assessment names it.  Without proof of purchase (seed 004
1.1.1.2: 客户无法提供购买证明 … 按非保修期范围情况处理) the repair is paid too.
A part sold under a sales contract is covered by that contract's term (seed
000 1.2.d: 售出的单部件质保期限以销售与客户达成的条款规定为执行标准), counted
like the unit's periods from the day after the contract was signed.

On-site deadlines (1.5 上门时效) count working days of the calendar from the
day the plan is fixed: under 100 km 2 working days, 100–300 km 3, over 300 km
negotiated with the customer.
"""

from __future__ import annotations

import calendar as _months
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from compliance.calendar import WorkCalendar, as_aware
from compliance.policy import Exclusion, Policy, WarrantyPolicy

WarrantyTier = Literal["replace_new", "replace_refurbished", "free_repair", "contract_part", "paid"]

# What each tier means, in the customer's language (shown in the console and API).
TIER_LABELS: dict[WarrantyTier, str] = {
    "replace_new": "3个月内换新",
    "replace_refurbished": "6个月内换良",
    "free_repair": "3年内免费维修",
    "contract_part": "按销售合同单部件质保",
    "paid": "有偿维修",
}


class WarrantyError(ValueError):
    """Input a warranty assessment cannot use; the message names the field."""


def add_months(day: date, months: int) -> date:
    """The same day number `months` later, or that month's last day if it is shorter."""
    if months < 0:
        raise ValueError("months must not be negative")
    index = day.month - 1 + months
    year = day.year + index // 12
    month = index % 12 + 1
    last = _months.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def period_last_day(signed_for: date, months: int) -> date:
    """Last day covered by a period of `months` counted from the day after sign-for."""
    return add_months(signed_for, months)


@dataclass(frozen=True, slots=True)
class WarrantyAssessment:
    """Which tier a fault falls in, why, and until when that tier lasts."""

    tier: WarrantyTier
    label: str
    reason: str
    # None when there is no proof of purchase (the date cannot be shown).
    signed_for: date | None
    reported_on: date
    # Last day of the tier that applies (None for paid: no end).
    covered_until: date | None
    # The 2.e exclusions that made it paid (the expired period is one of them).
    exclusions: tuple[Exclusion, ...] = ()

    @property
    def free(self) -> bool:
        return self.tier != "paid"

    def to_dict(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "label": self.label,
            "reason": self.reason,
            "free": self.free,
            "signed_for": self.signed_for.isoformat() if self.signed_for else None,
            "reported_on": self.reported_on.isoformat(),
            "covered_until": self.covered_until.isoformat() if self.covered_until else None,
            "exclusions": [{"code": e.code, "text": e.text} for e in self.exclusions],
        }


def _exclusion_index(policy: WarrantyPolicy) -> dict[str, Exclusion]:
    return {e.code: e for e in policy.exclusions}


def _chosen(policy: WarrantyPolicy, exclusion_codes: Iterable[str]) -> list[Exclusion]:
    """The exclusions named by `exclusion_codes`; an unknown code is a `WarrantyError`."""
    known = _exclusion_index(policy)
    chosen: list[Exclusion] = []
    for code in exclusion_codes:
        if code not in known:
            raise WarrantyError(
                f"exclusions: unknown exclusion {code!r} (known: {', '.join(known)})"
            )
        if known[code] not in chosen:
            chosen.append(known[code])
    return chosen


def _excluded(
    chosen: list[Exclusion], signed_for: date | None, reported_on: date
) -> WarrantyAssessment:
    reasons = "；".join(e.text for e in chosen)
    return WarrantyAssessment(
        tier="paid",
        label=TIER_LABELS["paid"],
        reason=f"有偿保修范围：{reasons}",
        signed_for=signed_for,
        reported_on=reported_on,
        covered_until=None,
        exclusions=tuple(chosen),
    )


def assess_without_proof(
    policy: WarrantyPolicy, reported_on: date, exclusion_codes: Iterable[str] = ()
) -> WarrantyAssessment:
    """No proof of purchase: handled as out of warranty (seed 004 1.1.1.2)."""
    chosen = _chosen(policy, exclusion_codes)
    if chosen:
        return _excluded(chosen, None, reported_on)
    return WarrantyAssessment(
        tier="paid",
        label=TIER_LABELS["paid"],
        reason="暂未能提供购买证明，按非保修期范围处理",
        signed_for=None,
        reported_on=reported_on,
        covered_until=None,
    )


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """What a sales contract says about one part: its number, date and term."""

    number: str
    signed_on: date
    term_months: int


def assess_contract_part(
    policy: WarrantyPolicy,
    contract: ContractTerms,
    part: str,
    signed_for: date | None,
    reported_on: date,
    exclusion_codes: Iterable[str] = (),
) -> WarrantyAssessment:
    """A part sold under `contract`: free within the contract's term, else paid (1.2.d)."""
    chosen = _chosen(policy, exclusion_codes)
    if chosen:
        return _excluded(chosen, signed_for, reported_on)
    last = period_last_day(contract.signed_on, contract.term_months)
    if reported_on <= last:
        return WarrantyAssessment(
            tier="contract_part",
            label=TIER_LABELS["contract_part"],
            reason=f"销售合同{contract.number}约定{part}质保{contract.term_months}个月（至{last.isoformat()}）",
            signed_for=signed_for,
            reported_on=reported_on,
            covered_until=last,
        )
    return WarrantyAssessment(
        tier="paid",
        label=TIER_LABELS["paid"],
        reason=f"超过销售合同{contract.number}约定的{part}质保期（至{last.isoformat()}）",
        signed_for=signed_for,
        reported_on=reported_on,
        covered_until=None,
    )


def assess_warranty(
    policy: WarrantyPolicy,
    signed_for: date,
    reported_on: date,
    exclusion_codes: Iterable[str] = (),
) -> WarrantyAssessment:
    """The warranty tier of a fault reported on `reported_on` for a unit signed for on `signed_for`.

    `exclusion_codes` are codes of the policy's 2.e exclusions that apply
    (e.g. ``"misuse"``); an unknown code is a `WarrantyError` naming the known
    ones, so a typo never silently turns a paid repair into a free one.
    """
    known = _exclusion_index(policy)
    chosen = _chosen(policy, exclusion_codes)
    if reported_on < signed_for:
        raise WarrantyError(
            f"reported_on: {reported_on.isoformat()} is before the sign-for date "
            f"{signed_for.isoformat()}"
        )

    tiers: tuple[tuple[WarrantyTier, int], ...] = (
        ("replace_new", policy.replace_new_months),
        ("replace_refurbished", policy.replace_refurbished_months),
        ("free_repair", policy.free_repair_months),
    )
    if chosen:
        return _excluded(chosen, signed_for, reported_on)
    for tier, months in tiers:
        last = period_last_day(signed_for, months)
        if reported_on <= last:
            return WarrantyAssessment(
                tier=tier,
                label=TIER_LABELS[tier],
                reason=f"自签收次日起{months}个月内（至{last.isoformat()}）",
                signed_for=signed_for,
                reported_on=reported_on,
                covered_until=last,
            )
    expired = known.get("expired")
    last = period_last_day(signed_for, policy.free_repair_months)
    return WarrantyAssessment(
        tier="paid",
        label=TIER_LABELS["paid"],
        reason=f"产品超过质保周期（免费维修至{last.isoformat()}）",
        signed_for=signed_for,
        reported_on=reported_on,
        covered_until=None,
        exclusions=(expired,) if expired is not None else (),
    )


@dataclass(frozen=True, slots=True)
class OnsiteDeadline:
    """When an engineer must be on site; `due_on` is None when the time is negotiated."""

    distance_km: float
    plan_fixed_on: date
    working_days: int | None
    due_on: date | None

    @property
    def negotiated(self) -> bool:
        return self.working_days is None

    def to_dict(self) -> dict[str, object]:
        return {
            "distance_km": self.distance_km,
            "plan_fixed_on": self.plan_fixed_on.isoformat(),
            "working_days": self.working_days,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "negotiated": self.negotiated,
        }


def onsite_deadline(
    policy: Policy, calendar: WorkCalendar, plan_fixed_at: datetime | date, distance_km: float
) -> OnsiteDeadline:
    """The last working day to be on site, `distance_km` from the service point.

    Counted in working days from the day the plan was fixed (that day is not
    counted): a plan fixed on Friday 2026-11-20 for a site 50 km away is due
    on Monday 2026-11-23, Saturday being a 朴赛 working day.
    """
    if distance_km < 0:
        raise WarrantyError(f"distance_km: must not be negative, got {distance_km}")
    if isinstance(plan_fixed_at, datetime):
        plan_day = as_aware(plan_fixed_at, calendar.tz).astimezone(calendar.tz).date()
    else:
        plan_day = plan_fixed_at
    days = policy.onsite_working_days(distance_km)
    due = calendar.add_working_days(plan_day, days) if days is not None else None
    return OnsiteDeadline(
        distance_km=distance_km, plan_fixed_on=plan_day, working_days=days, due_on=due
    )
