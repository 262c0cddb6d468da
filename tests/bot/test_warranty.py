"""Warranty tiers and on-site deadlines, golden-tested with exact dates."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.warranty import (
    ContractTerms,
    WarrantyError,
    add_months,
    assess_contract_part,
    assess_warranty,
    assess_without_proof,
    onsite_deadline,
    period_last_day,
)
from compliance.calendar import SHANGHAI
from compliance.policy import Policy, build_calendar, load_policy


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 15), 3, date(2026, 4, 15)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 February: month end
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2026, 8, 31), 3, date(2026, 11, 30)),
        (date(2026, 10, 31), 6, date(2027, 4, 30)),
        (date(2026, 12, 31), 36, date(2029, 12, 31)),
        (date(2024, 2, 29), 36, date(2027, 2, 28)),
        (date(2026, 5, 20), 0, date(2026, 5, 20)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_month_end(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


def test_period_counts_from_the_day_after_sign_for() -> None:
    # 民法典 第二百零一条: the sign-for day is not counted; the corresponding
    # day of the expiry month is the last day of the period.
    assert period_last_day(date(2026, 1, 30), 3) == date(2026, 4, 30)
    assert period_last_day(date(2025, 11, 30), 3) == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("signed_for", "reported_on", "tier", "covered_until"),
    [
        (date(2026, 1, 30), date(2026, 1, 30), "replace_new", date(2026, 4, 30)),
        (date(2026, 1, 30), date(2026, 4, 30), "replace_new", date(2026, 4, 30)),
        (date(2026, 1, 30), date(2026, 5, 1), "replace_refurbished", date(2026, 7, 30)),
        (date(2025, 11, 30), date(2026, 2, 28), "replace_new", date(2026, 2, 28)),
        (date(2025, 11, 30), date(2026, 3, 1), "replace_refurbished", date(2026, 5, 30)),
        (date(2025, 8, 31), date(2026, 2, 28), "replace_refurbished", date(2026, 2, 28)),
        (date(2025, 8, 31), date(2026, 3, 1), "free_repair", date(2028, 8, 31)),
        (date(2023, 11, 23), date(2026, 11, 23), "free_repair", date(2026, 11, 23)),
    ],
)
def test_tier_by_sign_for_date(
    policy: Policy, signed_for: date, reported_on: date, tier: str, covered_until: date
) -> None:
    result = assess_warranty(policy.warranty, signed_for, reported_on)
    assert result.tier == tier
    assert result.covered_until == covered_until
    assert result.free
    assert result.exclusions == ()


def test_after_three_years_it_is_paid_with_the_expired_exclusion(policy: Policy) -> None:
    result = assess_warranty(policy.warranty, date(2023, 11, 23), date(2026, 11, 24))
    assert result.tier == "paid"
    assert not result.free
    assert [e.code for e in result.exclusions] == ["expired"]
    assert result.reason == "产品超过质保周期（免费维修至2026-11-23）"


def test_any_exclusion_makes_it_paid_with_the_reason(policy: Policy) -> None:
    result = assess_warranty(
        policy.warranty, date(2026, 11, 1), date(2026, 11, 5), ["misuse", "malware", "misuse"]
    )
    assert result.tier == "paid"
    assert [e.code for e in result.exclusions] == ["misuse", "malware"]
    assert result.reason == (
        "有偿保修范围：错误或不正当使用导致的产品故障；因网络病毒、黑客攻击等造成的产品故障"
    )
    assert result.to_dict()["covered_until"] is None


def test_unknown_exclusion_and_time_travel_are_errors_naming_the_field(policy: Policy) -> None:
    with pytest.raises(WarrantyError, match=r"exclusions: unknown exclusion 'misuze'"):
        assess_warranty(policy.warranty, date(2026, 1, 1), date(2026, 2, 1), ["misuze"])
    with pytest.raises(WarrantyError, match="reported_on: 2025-12-31 is before"):
        assess_warranty(policy.warranty, date(2026, 1, 1), date(2025, 12, 31))


@pytest.mark.parametrize(
    ("plan_fixed", "km", "days", "due"),
    [
        # Friday; Saturday is a 朴赛 working day, Sunday is not.
        (date(2026, 11, 20), 50, 2, date(2026, 11, 23)),
        (date(2026, 11, 20), 99.9, 2, date(2026, 11, 23)),
        (date(2026, 11, 20), 100, 3, date(2026, 11, 24)),
        (date(2026, 11, 20), 300, 3, date(2026, 11, 24)),
        # National Day week: 2026-10-01..07 are rest days.
        (date(2026, 9, 30), 20, 2, date(2026, 10, 9)),
    ],
)
def test_onsite_deadline_by_distance(
    policy: Policy, plan_fixed: date, km: float, days: int, due: date
) -> None:
    result = onsite_deadline(policy, build_calendar(policy), plan_fixed, km)
    assert result.working_days == days
    assert result.due_on == due
    assert not result.negotiated


def test_onsite_over_300_km_is_negotiated(policy: Policy) -> None:
    at = datetime(2026, 11, 20, 17, 0, tzinfo=SHANGHAI)
    result = onsite_deadline(policy, build_calendar(policy), at, 300.5)
    assert result.negotiated
    assert result.due_on is None
    assert result.to_dict()["negotiated"] is True


def test_onsite_negative_distance_is_an_error(policy: Policy) -> None:
    with pytest.raises(WarrantyError, match="distance_km"):
        onsite_deadline(policy, build_calendar(policy), date(2026, 11, 20), -1)


def test_no_proof_of_purchase_is_out_of_warranty(policy: Policy) -> None:
    # Seed 004 1.1.1.2: 客户无法提供购买证明 … 按非保修期范围情况处理.
    result = assess_without_proof(policy.warranty, date(2026, 11, 23))
    assert (result.tier, result.free, result.signed_for) == ("paid", False, None)
    assert result.reason == "暂未能提供购买证明，按非保修期范围处理"
    assert result.to_dict()["signed_for"] is None
    misuse = assess_without_proof(policy.warranty, date(2026, 11, 23), ["misuse"])
    assert [e.code for e in misuse.exclusions] == ["misuse"]


@pytest.mark.parametrize(
    ("reported_on", "tier", "covered_until"),
    [
        (date(2027, 1, 10), "contract_part", date(2027, 1, 10)),  # the term's last day
        (date(2027, 1, 11), "paid", None),
    ],
)
def test_a_contract_part_is_covered_for_the_contracts_term(
    policy: Policy, reported_on: date, tier: str, covered_until: date | None
) -> None:
    terms = ContractTerms("HT-2025-017", date(2025, 1, 10), 24)
    result = assess_contract_part(policy.warranty, terms, "硬盘", date(2022, 1, 1), reported_on)
    assert (result.tier, result.covered_until) == (tier, covered_until)
    assert "HT-2025-017" in result.reason and "硬盘" in result.reason


def test_an_exclusion_makes_a_contract_part_paid(policy: Policy) -> None:
    terms = ContractTerms("HT-1", date(2026, 1, 10), 24)
    result = assess_contract_part(
        policy.warranty, terms, "硬盘", date(2026, 1, 10), date(2026, 11, 23), ["accident"]
    )
    assert result.tier == "paid" and [e.code for e in result.exclusions] == ["accident"]
