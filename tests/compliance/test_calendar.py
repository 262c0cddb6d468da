"""Working-day calendar and attended-hours clock (SPEC §5)."""

from __future__ import annotations

import csv
import logging
import os
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from compliance.calendar import (
    SHANGHAI,
    AttendedClock,
    AttendedHours,
    DayInfo,
    HolidayOverride,
    WorkCalendar,
    as_aware,
)

REPO = Path(__file__).resolve().parents[2]
REALDATA = Path(os.environ.get("AFTERSALES_REALDATA") or REPO / "../shared/realdata").resolve()
CROSSCHECK = REALDATA / "holidays" / "workday_crosscheck_2024_2026.csv"

# holiday-cn's Chinese names and chinesecalendar's English ones for the same holidays.
HOLIDAY_NAMES = {
    "元旦": {"New Year's Day"},
    "春节": {"Spring Festival"},
    "清明节": {"Tomb-sweeping Day"},
    "劳动节": {"Labour Day"},
    "端午节": {"Dragon Boat Festival"},
    "中秋节": {"Mid-autumn Festival"},
    "国庆节": {"National Day"},
    "国庆节、中秋节": {"National Day", "Mid-autumn Festival"},
}
WEEKDAY_REASONS = {"weekday", "saturday", "sunday", "saturday (company working day)"}


def shanghai(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=SHANGHAI)


@pytest.fixture
def puxai() -> WorkCalendar:
    """朴赛: Monday–Saturday plus statutory holidays and 调休."""
    return WorkCalendar()


@pytest.fixture
def clock(puxai: WorkCalendar) -> AttendedClock:
    chat = AttendedHours.chat_default()
    hours = {c: chat for c in ("wechat", "wecom", "qianniu", "jd", "web")}
    hours["phone"] = AttendedHours.always()
    return AttendedClock(puxai, hours, default=chat)


# -- realdata cross-check --------------------------------------------------------


def crosscheck_rows() -> list[dict[str, str]]:
    if not CROSSCHECK.is_file():
        pytest.skip(f"real holiday data absent: {CROSSCHECK} (set AFTERSALES_REALDATA)")
    with CROSSCHECK.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.realdata
def test_national_calendar_matches_every_day_of_2024_to_2026() -> None:
    rows = crosscheck_rows()
    national = WorkCalendar(working_weekdays=(1, 2, 3, 4, 5))
    assert len(rows) == 366 + 365 + 365
    wrong = []
    for row in rows:
        info = national.day(date.fromisoformat(row["date"]))
        expected_working = row["is_workday_holiday_cn"] == "1"
        cn_name = row["holiday_cn_name"]
        if cn_name and expected_working:
            reason_ok = (
                info.reason == "adjusted workday" and info.holiday_name in HOLIDAY_NAMES[cn_name]
            )
        elif cn_name:
            reason_ok = info.reason in HOLIDAY_NAMES[cn_name] and info.holiday_name == info.reason
        else:
            reason_ok = info.reason in WEEKDAY_REASONS and info.holiday_name is None
        if info.working_day != expected_working or not reason_ok:
            wrong.append((row["date"], row["weekday"], cn_name, info))
    assert wrong == []


@pytest.mark.realdata
def test_puxai_calendar_adds_plain_saturdays_to_the_national_one(puxai: WorkCalendar) -> None:
    rows = crosscheck_rows()
    wrong = []
    for row in rows:
        d = date.fromisoformat(row["date"])
        national_working = row["is_workday_holiday_cn"] == "1"
        statutory_rest = bool(row["holiday_cn_name"]) and not national_working
        expected = national_working or (d.isoweekday() == 6 and not statutory_rest)
        if puxai.is_working_day(d) != expected:
            wrong.append((row["date"], row["weekday"], row["holiday_cn_name"], puxai.day(d)))
    assert wrong == []


# -- the 朴赛 Monday–Saturday rule -----------------------------------------------


@pytest.mark.parametrize(
    ("day", "working", "reason", "holiday_name"),
    [
        (date(2026, 11, 21), True, "saturday (company working day)", None),
        (date(2026, 11, 22), False, "sunday", None),
        (date(2026, 11, 23), True, "weekday", None),
        (date(2026, 10, 3), False, "National Day", "National Day"),  # a Saturday
        (date(2026, 10, 1), False, "National Day", "National Day"),  # a Thursday
        (date(2026, 9, 20), True, "adjusted workday", "National Day"),  # a Sunday (调休)
        (date(2026, 10, 10), True, "adjusted workday", "National Day"),  # a Saturday (调休)
        (date(2026, 10, 11), False, "sunday", None),
        (date(2026, 2, 17), False, "Spring Festival", "Spring Festival"),
        (date(2025, 1, 1), False, "New Year's Day", "New Year's Day"),
    ],
)
def test_puxai_days(
    puxai: WorkCalendar, day: date, working: bool, reason: str, holiday_name: str | None
) -> None:
    assert puxai.day(day) == DayInfo(day, working, reason, holiday_name)
    assert puxai.is_working_day(day) is working


def test_package_weekend_marker_is_not_a_holiday_for_a_saturday_company(
    puxai: WorkCalendar,
) -> None:
    # chinesecalendar says (True, None) for an ordinary Saturday.
    assert puxai.day(date(2024, 6, 1)) == DayInfo(
        date(2024, 6, 1), True, "saturday (company working day)"
    )
    national = WorkCalendar(working_weekdays=range(1, 6))
    assert national.day(date(2024, 6, 1)) == DayInfo(date(2024, 6, 1), False, "saturday")


def test_a_datetime_counts_by_its_shanghai_date(puxai: WorkCalendar) -> None:
    # 2026-11-21 20:00 UTC is Sunday 04:00 in Shanghai.
    assert puxai.day(datetime(2026, 11, 21, 20, 0, tzinfo=UTC)).reason == "sunday"
    assert puxai.day(datetime(2026, 11, 21, 20, 0)).reason == "saturday (company working day)"


def test_without_statutory_holidays_only_the_weekday_rule_counts() -> None:
    plain = WorkCalendar(use_statutory=False)
    assert plain.day(date(2026, 10, 1)) == DayInfo(date(2026, 10, 1), True, "weekday")
    assert plain.day(date(2026, 9, 20)) == DayInfo(date(2026, 9, 20), False, "sunday")


def test_bad_working_weekday_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[0, 8\]"):
        WorkCalendar(working_weekdays=(0, 1, 8))


def test_covered_years_are_the_packages() -> None:
    years = WorkCalendar().covered_years()
    assert 2004 in years and 2026 in years and 2027 not in years


# -- years the package does not know, and overrides -------------------------------


def test_uncovered_year_falls_back_to_the_weekday_rule_with_one_warning(
    puxai: WorkCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="compliance.calendar")
    info = puxai.day(date(2027, 2, 10))
    assert info == DayInfo(date(2027, 2, 10), True, "no holiday data for 2027: weekend rule")
    for _ in range(3):
        for offset in range(60):
            puxai.day(date(2027, 1, 1) + timedelta(days=offset))
    assert puxai.day(date(2027, 2, 14)).working_day is False  # a Sunday
    assert puxai.day(date(2027, 2, 13)).working_day is True  # a Saturday
    warnings = [r for r in caplog.records if r.name == "compliance.calendar"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "2027" in warnings[0].getMessage()


def test_each_uncovered_year_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="compliance.calendar")
    calendar = WorkCalendar()
    for year in (2027, 2028, 2027, 2003):
        calendar.day(date(year, 3, 3))
        calendar.day(date(year, 3, 4))
    years = [r.args for r in caplog.records if r.name == "compliance.calendar"]
    assert years == [(2027,), (2028,), (2003,)]


def test_override_wins_in_an_uncovered_year(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="compliance.calendar")
    calendar = WorkCalendar(
        overrides=[
            HolidayOverride(date(2027, 2, 10), False, "春节"),
            HolidayOverride(date(2027, 2, 7), True, "春节调休"),  # a Sunday
        ]
    )
    assert calendar.day(date(2027, 2, 10)) == DayInfo(
        date(2027, 2, 10), False, "override: 春节", "春节"
    )
    assert calendar.day(date(2027, 2, 7)) == DayInfo(
        date(2027, 2, 7), True, "override: 春节调休", "春节调休"
    )
    assert caplog.records == []  # only overridden days were asked about


def test_override_wins_over_the_package(puxai: WorkCalendar) -> None:
    calendar = WorkCalendar(
        overrides=[
            HolidayOverride(date(2026, 11, 23), False, "公司年会"),
            HolidayOverride(date(2026, 10, 3), True, "国庆值班"),
        ]
    )
    assert calendar.day(date(2026, 11, 23)).reason == "override: 公司年会"
    assert not calendar.is_working_day(date(2026, 11, 23))
    assert calendar.is_working_day(date(2026, 10, 3))
    assert puxai.is_working_day(date(2026, 11, 23))  # the overrides belong to one calendar


# -- counting working days ----------------------------------------------------------


def test_working_day_number_over_a_weekend(puxai: WorkCalendar) -> None:
    opened = shanghai(2026, 11, 20, 16, 0)  # a Friday
    numbers = {d: puxai.working_day_number(opened, date(2026, 11, d)) for d in range(19, 29)}
    assert numbers == {19: 0, 20: 1, 21: 2, 22: 2, 23: 3, 24: 4, 25: 5, 26: 6, 27: 7, 28: 8}


def test_working_day_number_around_national_day_2026(puxai: WorkCalendar) -> None:
    opened = date(2026, 9, 30)  # Wednesday before the holiday
    at = {d: puxai.working_day_number(opened, date(2026, 10, d)) for d in range(1, 13)}
    assert at == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 2, 9: 3, 10: 4, 11: 4, 12: 5}
    # Opened on a holiday: day 1 is the first working day after it.
    assert puxai.working_day_number(date(2026, 10, 2), date(2026, 10, 7)) == 0
    assert puxai.working_day_number(date(2026, 10, 2), date(2026, 10, 8)) == 1
    # Opened on the 调休 Sunday: that Sunday is day 1.
    assert puxai.working_day_number(date(2026, 9, 20), date(2026, 9, 21)) == 2


def test_working_day_number_uses_the_shanghai_date(puxai: WorkCalendar) -> None:
    # Friday 23:30 UTC is Saturday 07:30 in Shanghai: the ticket opens on Saturday.
    opened = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert puxai.working_day_number(opened, datetime(2026, 11, 21, 9, 0)) == 1
    assert puxai.working_day_number(opened, date(2026, 11, 23)) == 2


def test_add_working_days(puxai: WorkCalendar) -> None:
    assert puxai.add_working_days(date(2026, 11, 20), 0) == date(2026, 11, 20)
    assert puxai.add_working_days(date(2026, 11, 22), 0) == date(2026, 11, 23)
    assert puxai.add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 21)
    assert puxai.add_working_days(date(2026, 11, 20), 2) == date(2026, 11, 23)
    assert puxai.add_working_days(date(2026, 11, 22), 1) == date(2026, 11, 23)
    assert puxai.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert puxai.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert puxai.next_working_day(date(2026, 10, 1)) == date(2026, 10, 8)
    with pytest.raises(ValueError, match="negative"):
        puxai.add_working_days(date(2026, 11, 20), -1)


def test_a_calendar_without_working_days_fails_clearly() -> None:
    idle = WorkCalendar(working_weekdays=(), use_statutory=False)
    with pytest.raises(ValueError, match="no working day in the 366 days after 2026-01-01"):
        idle.add_working_days(date(2026, 1, 1), 1)


def test_working_days_deadline(clock: AttendedClock) -> None:
    # Plan fixed Friday evening: 2 working days -> Monday (Saturday works at 朴赛).
    assert clock.working_days_deadline(shanghai(2026, 11, 20, 19, 0), 2) == date(2026, 11, 23)
    assert clock.working_days_deadline(shanghai(2026, 9, 29, 10, 0), 3) == date(2026, 10, 9)
    # 16:30 UTC on Friday is 00:30 Saturday in Shanghai.
    assert clock.working_days_deadline(datetime(2026, 11, 20, 16, 30, tzinfo=UTC), 1) == date(
        2026, 11, 23
    )


# -- attended hours ------------------------------------------------------------------


def test_as_aware() -> None:
    naive = datetime(2026, 11, 21, 8, 0)
    assert as_aware(naive) == shanghai(2026, 11, 21, 8, 0)
    utc = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert as_aware(utc) is utc


def test_attended_hours_validation() -> None:
    assert AttendedHours.always().around_the_clock
    assert not AttendedHours.chat_default().around_the_clock
    assert AttendedHours.chat_default() == AttendedHours(time(9, 30), time(18, 0))
    with pytest.raises(ValueError, match="both opens and closes"):
        AttendedHours(time(9, 30), None)
    with pytest.raises(ValueError, match="later than opens"):
        AttendedHours(time(18, 0), time(9, 30))


def test_message_before_opening_starts_at_opening(clock: AttendedClock) -> None:
    early = shanghai(2026, 11, 21, 8, 0)
    assert clock.clock_start(early, "wechat") == shanghai(2026, 11, 21, 9, 30)
    assert not clock.is_attended(early, "wechat")
    assert clock.attended_seconds_between(early, shanghai(2026, 11, 21, 9, 31), "wechat") == 60.0
    assert clock.attended_seconds_between(early, shanghai(2026, 11, 21, 9, 0), "wechat") == 0.0


def test_attended_on_rest_days_too(clock: AttendedClock) -> None:
    sunday = shanghai(2026, 11, 22, 10, 0)
    assert clock.is_attended(sunday, "web")
    assert clock.clock_start(sunday, "web") == sunday
    assert clock.is_attended(shanghai(2026, 10, 3, 9, 30), "qianniu")  # National Day


def test_window_edges(clock: AttendedClock) -> None:
    assert clock.is_attended(shanghai(2026, 11, 21, 9, 30), "jd")
    assert not clock.is_attended(shanghai(2026, 11, 21, 9, 29, 59, 999999), "jd")
    assert clock.is_attended(shanghai(2026, 11, 21, 17, 59, 59, 999999), "jd")
    assert not clock.is_attended(shanghai(2026, 11, 21, 18, 0), "jd")
    assert clock.clock_start(shanghai(2026, 11, 21, 18, 0), "jd") == shanghai(2026, 11, 22, 9, 30)
    assert clock.clock_start(shanghai(2026, 11, 21, 23, 59), "jd") == shanghai(2026, 11, 22, 9, 30)


def test_late_message_counts_across_the_night(clock: AttendedClock) -> None:
    late = shanghai(2026, 11, 21, 17, 59, 30)
    assert clock.attended_seconds_between(late, shanghai(2026, 11, 22, 9, 30), "wecom") == 30.0
    assert clock.attended_seconds_between(late, shanghai(2026, 11, 22, 9, 30, 45), "wecom") == 75.0
    assert clock.attended_seconds_between(late, shanghai(2026, 11, 22, 8, 0), "wecom") == 30.0
    # Two nights and a full day (8.5 h) in between.
    assert (
        clock.attended_seconds_between(late, shanghai(2026, 11, 23, 10, 0), "wecom")
        == 30 + 8.5 * 3600 + 30 * 60
    )
    assert clock.deadline_after(late, 60, "wecom") == shanghai(2026, 11, 22, 9, 30, 30)
    assert clock.deadline_after(late, 30, "wecom") == shanghai(2026, 11, 21, 18, 0)


def test_after_closing_to_next_day(clock: AttendedClock) -> None:
    night = shanghai(2026, 11, 21, 22, 0)
    assert clock.attended_seconds_between(night, shanghai(2026, 11, 22, 9, 0), "wechat") == 0.0
    assert clock.attended_seconds_between(night, shanghai(2026, 11, 22, 9, 35), "wechat") == 300.0
    assert clock.deadline_after(night, 300, "wechat") == shanghai(2026, 11, 22, 9, 35)


def test_phone_is_attended_around_the_clock(clock: AttendedClock) -> None:
    night = shanghai(2026, 11, 22, 3, 0)
    assert clock.is_attended(night, "phone")
    assert clock.clock_start(night, "phone") == night
    assert clock.attended_seconds_between(night, shanghai(2026, 11, 22, 3, 0, 15), "phone") == 15.0
    assert (
        clock.attended_seconds_between(
            shanghai(2026, 11, 21, 23, 59, 50), shanghai(2026, 11, 22, 0, 0, 20), "phone"
        )
        == 30.0
    )
    assert clock.deadline_after(night, 30, "phone") == shanghai(2026, 11, 22, 3, 0, 30)


def test_unknown_channel_uses_the_default(clock: AttendedClock) -> None:
    assert clock.hours("fax") == AttendedHours.chat_default()
    assert not clock.is_attended(shanghai(2026, 11, 22, 3, 0), "fax")


def test_reversed_or_empty_interval_is_zero(clock: AttendedClock) -> None:
    t = shanghai(2026, 11, 21, 10, 0)
    assert clock.attended_seconds_between(t, t, "wechat") == 0.0
    assert clock.attended_seconds_between(t, t - timedelta(hours=1), "wechat") == 0.0
    assert clock.attended_seconds_between(t, t - timedelta(hours=1), "phone") == 0.0


def test_exact_seconds_with_microseconds(clock: AttendedClock) -> None:
    a = shanghai(2026, 11, 21, 10, 0, 0, 123457)
    b = a + timedelta(seconds=60)
    assert clock.attended_seconds_between(a, b, "wechat") == 60.0
    assert clock.attended_seconds_between(a, b, "phone") == 60.0


def test_naive_input_is_shanghai(clock: AttendedClock) -> None:
    naive = datetime(2026, 11, 21, 8, 0)
    assert clock.clock_start(naive, "wechat") == shanghai(2026, 11, 21, 9, 30)
    assert clock.attended_seconds_between(naive, datetime(2026, 11, 21, 10, 0), "wechat") == 1800.0
    assert clock.deadline_after(naive, 60, "wechat") == shanghai(2026, 11, 21, 9, 31)
    assert not clock.is_attended(naive, "wechat")


def test_utc_input(clock: AttendedClock) -> None:
    # 01:30 UTC is 09:30 Shanghai; 00:00 UTC is 08:00 Shanghai.
    assert clock.is_attended(datetime(2026, 11, 21, 1, 30, tzinfo=UTC), "wechat")
    assert not clock.is_attended(datetime(2026, 11, 21, 0, 0, tzinfo=UTC), "wechat")
    start = clock.clock_start(datetime(2026, 11, 21, 0, 0, tzinfo=UTC), "wechat")
    assert start == datetime(2026, 11, 21, 1, 30, tzinfo=UTC)
    assert start.tzinfo is SHANGHAI
    # 09:59:30 UTC = 17:59:30 Shanghai; next day 01:31 UTC = 09:31 Shanghai.
    seconds = clock.attended_seconds_between(
        datetime(2026, 11, 21, 9, 59, 30, tzinfo=UTC),
        datetime(2026, 11, 22, 1, 31, tzinfo=UTC),
        "wechat",
    )
    assert seconds == 90.0
    # Mixed: UTC start, naive (Shanghai) end.
    assert (
        clock.attended_seconds_between(
            datetime(2026, 11, 21, 2, 0, tzinfo=UTC), datetime(2026, 11, 21, 10, 1), "wechat"
        )
        == 60.0
    )


def test_deadline_after_rejects_bad_seconds(clock: AttendedClock) -> None:
    with pytest.raises(ValueError, match="finite"):
        clock.deadline_after(shanghai(2026, 11, 21, 10, 0), -1, "wechat")
    with pytest.raises(ValueError, match="finite"):
        clock.deadline_after(shanghai(2026, 11, 21, 10, 0), float("nan"), "wechat")


@pytest.mark.parametrize("channel", ["wechat", "phone"])
def test_deadline_after_is_the_inverse_of_attended_seconds(
    clock: AttendedClock, channel: str
) -> None:
    rng = random.Random(20261121)
    base = shanghai(2026, 1, 1)
    zones = [SHANGHAI, UTC, None]
    for _ in range(2000):
        start = base + timedelta(
            seconds=rng.randrange(365 * 86400), microseconds=rng.randrange(10**6)
        )
        zone = rng.choice(zones)
        start = start.astimezone(UTC) if zone is UTC else start
        start = start.replace(tzinfo=None) if zone is None else start
        seconds = rng.choice([0, 15, 60, 300, 1800, 4 * 3600, 8 * 3600, 30 * 3600]) + rng.random()
        deadline = clock.deadline_after(start, seconds, channel)
        elapsed = clock.attended_seconds_between(start, deadline, channel)
        assert abs(elapsed - seconds) <= 1e-6, (start, seconds, deadline)
        # The deadline is the earliest such moment: a microsecond earlier is short.
        if seconds > 1e-6:
            before = deadline - timedelta(microseconds=1)
            assert clock.attended_seconds_between(start, before, channel) < seconds
        # Adding attended time piecewise agrees with the whole.
        cut = clock.deadline_after(start, seconds / 2, channel)
        assert (
            abs(
                clock.attended_seconds_between(start, cut, channel)
                + clock.attended_seconds_between(cut, deadline, channel)
                - elapsed
            )
            <= 2e-6
        )


def test_attended_seconds_matches_a_brute_force_count(clock: AttendedClock) -> None:
    rng = random.Random(7)
    base = shanghai(2026, 9, 28)
    for i in range(120):
        a = base + timedelta(minutes=rng.randrange(10 * 24 * 60))
        b = a + timedelta(minutes=rng.randrange(3 * 24 * 60))
        if i % 2:  # naive local pairs take their own fast path
            a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
        minutes = 0
        t = a
        while t < b:  # minute by minute: the slow, obviously right way
            minutes += clock.is_attended(t, "wechat")
            t += timedelta(minutes=1)
        assert clock.attended_seconds_between(a, b, "wechat") == minutes * 60.0, (a, b)


def test_a_zone_with_daylight_saving_counts_real_time() -> None:
    # Not 朴赛's case, but the zone is configurable: on 2026-03-29 Berlin's
    # clocks jump from 02:00 to 03:00, so a 01:00–05:00 window lasts 3 hours.
    berlin = ZoneInfo("Europe/Berlin")
    hours = AttendedHours(time(1, 0), time(5, 0))
    dst = AttendedClock(WorkCalendar(tz=berlin), {}, default=hours)
    day = datetime(2026, 3, 29, tzinfo=berlin)
    assert dst.attended_seconds_between(day, day.replace(hour=6), "web") == 3 * 3600.0
    assert dst.attended_seconds_between(datetime(2026, 3, 29), datetime(2026, 3, 29, 6), "web") == (
        3 * 3600.0
    )
    # 01:00 to 04:00 on the wall is 2 real hours, in zone-aware and naive input alike.
    one, four = day.replace(hour=1), day.replace(hour=4)
    assert dst.attended_seconds_between(one, four, "web") == 2 * 3600.0
    naive_one, naive_four = one.replace(tzinfo=None), four.replace(tzinfo=None)
    assert dst.attended_seconds_between(naive_one, naive_four, "web") == 2 * 3600.0
    assert dst.deadline_after(one, 2 * 3600, "web") == four
    assert dst.deadline_after(day, 3 * 3600, "web") == day.replace(hour=5)
    assert dst.deadline_after(day, 90 * 60, "web") == day.replace(hour=3, minute=30)
    always = AttendedClock(WorkCalendar(tz=berlin), {}, default=AttendedHours.always())
    assert always.attended_seconds_between(day, day.replace(hour=4), "phone") == 3 * 3600.0
