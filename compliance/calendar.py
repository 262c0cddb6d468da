"""Working-day calendar and attended-hours clock (SPEC §5).

`WorkCalendar` says whether a date is a working day and why: the company's
working weekdays (朴赛: Monday–Saturday, seed 000 "工作日周一至周六") minus
China's statutory holidays, plus 调休 make-up workdays, with policy overrides
winning over both.  Holidays come from the maintained `chinesecalendar`
package; a year it does not cover yet falls back to the weekday rule plus the
overrides and logs one warning for that year — it never raises.

`AttendedClock` measures time that counts for a response limit: chat channels
are attended 09:30–18:00 every day, the 400 line around the clock.  A message
that arrives outside attended hours starts its clock at the next opening.
All datetimes are aware; a naive one is taken as Asia/Shanghai (the
calendar's zone).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger("compliance.calendar")

SHANGHAI = ZoneInfo("Asia/Shanghai")

_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = timedelta(days=1)
# Clock arithmetic runs on integer microseconds since the epoch: exact (a reply
# exactly 60 s later is 60.0, never 59.99999) and zone-independent.  The
# same-day fast paths skip the conversion, which costs about a microsecond.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_S = 1_000_000
_MAX_REST_RUN = 366


def as_aware(dt: datetime, tz: tzinfo = SHANGHAI) -> datetime:
    """Return `dt` unchanged when aware; a naive `dt` is taken to be in `tz`."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        return dt.replace(tzinfo=tz)
    return dt


@dataclass(frozen=True, slots=True)
class HolidayOverride:
    """A policy day that wins over the holiday package and the weekday rule."""

    date: date
    working_day: bool
    name: str


@dataclass(frozen=True, slots=True)
class DayInfo:
    """Whether one date is a working day, and why (`reason` is printed by the CLI).

    `reason` is one of: ``weekday``, ``saturday (company working day)`` (any
    working weekend day by rule), ``saturday`` / ``sunday`` (a rest weekday by
    rule), a statutory holiday's English name (``National Day``), ``adjusted
    workday`` (调休), ``override: <name>``, or ``no holiday data for <year>:
    weekend rule``.  `holiday_name` names the holiday a statutory day, a 调休
    day or an override belongs to.
    """

    date: date
    working_day: bool
    reason: str
    holiday_name: str | None = None


class WorkCalendar:
    """Working days of one policy: weekdays, statutory holidays, 调休, overrides."""

    def __init__(
        self,
        working_weekdays: Iterable[int] = (1, 2, 3, 4, 5, 6),
        overrides: Iterable[HolidayOverride] = (),
        use_statutory: bool = True,
        tz: tzinfo = SHANGHAI,
    ) -> None:
        """`working_weekdays` are ISO weekdays (Monday = 1, Sunday = 7)."""
        self.working_weekdays = frozenset(working_weekdays)
        bad = sorted(d for d in self.working_weekdays if not 1 <= d <= 7)
        if bad:
            raise ValueError(f"working_weekdays: {bad} are not ISO weekdays 1–7")
        self.overrides = {o.date: o for o in overrides}
        self.use_statutory = use_statutory
        self.tz = tz
        self._cache: dict[date, DayInfo] = {}
        self._warned_years: set[int] = set()

    # -- single days -----------------------------------------------------------

    def day(self, d: date) -> DayInfo:
        """Whether `d` is a working day, and the reason (a datetime counts by its local date)."""
        if isinstance(d, datetime):
            d = self.local_date(d)
        info = self._cache.get(d)
        if info is None:
            info = self._cache[d] = self._classify(d)
        return info

    def is_working_day(self, d: date) -> bool:
        """True when `d` is a working day of this calendar."""
        return self.day(d).working_day

    def local_date(self, value: date | datetime) -> date:
        """The calendar-zone date of `value` (a naive datetime is already local)."""
        if isinstance(value, datetime):
            return as_aware(value, self.tz).astimezone(self.tz).date()
        return value

    def covered_years(self) -> range:
        """The years for which the holiday package has statutory data."""
        return _covered_years()

    def _classify(self, d: date) -> DayInfo:
        override = self.overrides.get(d)
        if override is not None:
            return DayInfo(d, override.working_day, f"override: {override.name}", override.name)
        if not self.use_statutory:
            return self._weekday_rule(d)
        try:
            is_holiday, name = chinese_calendar.get_holiday_detail(d)
        except NotImplementedError:
            return self._uncovered_year(d)
        if name is None:
            # (True, None) is an ordinary weekend, which is not a holiday for a
            # company that works Saturdays: only the weekday rule decides.
            return self._weekday_rule(d)
        label = str(name)
        if is_holiday:
            return DayInfo(d, False, label, label)
        return DayInfo(d, True, "adjusted workday", label)

    def _uncovered_year(self, d: date) -> DayInfo:
        if d.year not in self._warned_years:
            self._warned_years.add(d.year)
            log.warning(
                "no statutory holiday data for %d in chinesecalendar: using the weekday rule "
                "plus the policy's holiday overrides; add the year's holidays as overrides",
                d.year,
            )
        rule = self._weekday_rule(d)
        return DayInfo(d, rule.working_day, f"no holiday data for {d.year}: weekend rule")

    def _weekday_rule(self, d: date) -> DayInfo:
        iso = d.isoweekday()
        working = iso in self.working_weekdays
        if working and iso <= 5:
            reason = "weekday"
        elif working:
            reason = f"{_WEEKDAY_NAMES[iso - 1]} (company working day)"
        else:
            reason = _WEEKDAY_NAMES[iso - 1]
        return DayInfo(d, working, reason)

    # -- counting --------------------------------------------------------------

    def next_working_day(self, d: date) -> date:
        """`d` itself when it is a working day, else the first working day after it."""
        d = self.local_date(d)
        return d if self.is_working_day(d) else self._working_day_after(d)

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after `d` (n = 0: `d` itself or the next working day)."""
        if n < 0:
            raise ValueError(f"add_working_days: n must not be negative, got {n}")
        current = self.local_date(d)
        if n == 0:
            return self.next_working_day(current)
        for _ in range(n):
            current = self._working_day_after(current)
        return current

    def working_day_number(self, opened: date | datetime, at: date | datetime) -> int:
        """Working-day number of `at` for a ticket opened at `opened`.

        Day 1 is the opening day when it is a working day, else the first
        working day after it; a rest day keeps the number of the working day
        before it; 0 means `at` lies before day 1.
        """
        first = self.next_working_day(self.local_date(opened))
        end = self.local_date(at)
        if end < first:
            return 0
        number = 0
        current = first
        while current <= end:
            if self.is_working_day(current):
                number += 1
            current += _DAY
        return number

    def _working_day_after(self, d: date) -> date:
        # A calendar without working weekdays (only overrides) could search for
        # ever; a year of rest days in a row means the policy is broken.
        current = d
        for _ in range(_MAX_REST_RUN):
            current += _DAY
            if self.is_working_day(current):
                return current
        raise ValueError(
            f"calendar: no working day in the {_MAX_REST_RUN} days after {d}; "
            "check working_weekdays and the overrides"
        )


_COVERED: range | None = None


def _covered_years() -> range:
    global _COVERED
    if _COVERED is None:
        years = [d.year for d in chinese_calendar.holidays]
        _COVERED = range(min(years), max(years) + 1)
    return _COVERED


@dataclass(frozen=True, slots=True)
class AttendedHours:
    """Daily attended window in local time, the same on every day; both None = 7×24."""

    opens: time | None = None
    closes: time | None = None

    def __post_init__(self) -> None:
        if (self.opens is None) != (self.closes is None):
            raise ValueError("attended hours need both opens and closes (or neither for 7×24)")
        if self.opens is not None and self.closes is not None and self.opens >= self.closes:
            raise ValueError(
                f"attended hours: closes {self.closes} must be later than opens {self.opens}"
            )

    @property
    def around_the_clock(self) -> bool:
        """True for a 7×24 channel (the 400 phone line)."""
        return self.opens is None

    @classmethod
    def always(cls) -> AttendedHours:
        """7×24 hours (the 400 phone line)."""
        return cls(None, None)

    @classmethod
    def chat_default(cls) -> AttendedHours:
        """The 朴赛 chat-channel window, 09:30–18:00 every day."""
        return cls(time(9, 30), time(18, 0))


class _Window:
    """One date's attended window, both as epoch microseconds and as local datetimes."""

    __slots__ = (
        "closes_at",
        "closes_naive",
        "closes_us",
        "opens_at",
        "opens_naive",
        "opens_us",
        "steady",
    )

    def __init__(self, opens_at: datetime, closes_at: datetime) -> None:
        self.opens_at = opens_at
        self.closes_at = closes_at
        # Naive input is local time: comparing it with naive bounds saves the
        # (slow) datetime.replace that attaching the zone would cost.
        self.opens_naive = opens_at.replace(tzinfo=None)
        self.closes_naive = closes_at.replace(tzinfo=None)
        self.opens_us = _to_us(opens_at)
        self.closes_us = _to_us(closes_at)
        # Without an offset change inside the window, wall-clock arithmetic on
        # datetimes of the clock's zone is exact there (always so for Shanghai).
        self.steady = opens_at.utcoffset() == closes_at.utcoffset()


class _DailyWindows:
    """Per-date attended windows of one `AttendedHours`, computed once per date."""

    __slots__ = ("_cache", "_closes", "_opens", "_tz")

    def __init__(self, opens: time, closes: time, tz: tzinfo) -> None:
        self._opens = opens.replace(tzinfo=None)
        self._closes = closes.replace(tzinfo=None)
        self._tz = tz
        self._cache: dict[date, _Window] = {}

    def on(self, day: date) -> _Window:
        window = self._cache.get(day)
        if window is None:
            window = self._cache[day] = _Window(
                datetime.combine(day, self._opens, self._tz),
                datetime.combine(day, self._closes, self._tz),
            )
        return window


def _to_us(aware: datetime) -> int:
    return (aware - _EPOCH) // _MICROSECOND


class AttendedClock:
    """Counts attended time per channel, in the calendar's time zone.

    Windows are cached per date, so `attended_seconds_between` and
    `deadline_after` cost O(days spanned); within one day, for input in the
    calendar's zone or naive, they are a dict lookup and a few datetime
    comparisons.
    """

    def __init__(
        self,
        calendar: WorkCalendar,
        hours_by_channel: Mapping[str, AttendedHours],
        default: AttendedHours,
    ) -> None:
        """`default` applies to a channel missing from `hours_by_channel`."""
        self.calendar = calendar
        self.tz = calendar.tz
        self.hours_by_channel = dict(hours_by_channel)
        self.default = default
        shared: dict[AttendedHours, _DailyWindows | None] = {}

        def windows_of(hours: AttendedHours) -> _DailyWindows | None:
            if hours not in shared:
                shared[hours] = (
                    None
                    if hours.opens is None or hours.closes is None
                    else _DailyWindows(hours.opens, hours.closes, self.tz)
                )
            return shared[hours]

        self._windows = {name: windows_of(h) for name, h in self.hours_by_channel.items()}
        self._default_windows = windows_of(default)

    def hours(self, channel: str) -> AttendedHours:
        """The attended hours of `channel` (the default for an unknown one)."""
        return self.hours_by_channel.get(channel, self.default)

    def is_attended(self, t: datetime, channel: str) -> bool:
        """True when `t` lies inside the channel's attended hours."""
        windows = self._windows.get(channel, self._default_windows)
        if windows is None:
            return True
        t = as_aware(t, self.tz)
        window = windows.on(t.astimezone(self.tz).date())
        return window.opens_us <= _to_us(t) < window.closes_us

    def clock_start(self, t: datetime, channel: str) -> datetime:
        """`t` when attended, else the next opening (in the calendar's zone)."""
        t = as_aware(t, self.tz)
        windows = self._windows.get(channel, self._default_windows)
        if windows is None:
            return t.astimezone(self.tz)
        day = t.astimezone(self.tz).date()
        window = windows.on(day)
        t_us = _to_us(t)
        if t_us < window.opens_us:
            return window.opens_at
        if t_us < window.closes_us:
            return t.astimezone(self.tz)
        return windows.on(day + _DAY).opens_at

    def attended_seconds_between(self, a: datetime, b: datetime, channel: str) -> float:
        """Seconds of attended time in [a, b); 0 when b is not after a."""
        tz = self.tz
        windows = self._windows.get(channel, self._default_windows)
        zone = a.tzinfo
        if windows is not None and b.tzinfo is zone and (zone is tz or zone is None):
            # The common case, a reply on the day of the message in local time:
            # plain datetime arithmetic, no conversion to epoch time.
            window = windows.on(a.date())
            if window.steady:
                if zone is None:
                    opens, closes = window.opens_naive, window.closes_naive
                else:
                    opens, closes = window.opens_at, window.closes_at
                if b <= closes:
                    start = a if a > opens else opens
                    return (b - start).total_seconds() if b > start else 0.0
        a = as_aware(a, tz)
        b = as_aware(b, tz)
        a_us = _to_us(a)
        b_us = _to_us(b)
        if b_us <= a_us:
            return 0.0
        if windows is None:
            return (b_us - a_us) / _US_PER_S
        day = a.astimezone(tz).date()
        window = windows.on(day)
        start_us = a_us if a_us > window.opens_us else window.opens_us
        if b_us <= window.closes_us:
            return (b_us - start_us) / _US_PER_S if b_us > start_us else 0.0
        total = window.closes_us - start_us if start_us < window.closes_us else 0
        while True:
            day += _DAY
            window = windows.on(day)
            if b_us <= window.opens_us:
                break
            if b_us <= window.closes_us:
                total += b_us - window.opens_us
                break
            total += window.closes_us - window.opens_us
        return total / _US_PER_S

    def deadline_after(self, start: datetime, seconds: float, channel: str) -> datetime:
        """The earliest moment at which `seconds` of attended time have passed after `start`.

        A deadline that uses up a day's window exactly is that day's closing
        time (nothing more is counted until the next opening anyway).
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"deadline_after: seconds must be finite and >= 0, got {seconds}")
        tz = self.tz
        start = as_aware(start, tz)
        need = round(seconds * _US_PER_S)
        windows = self._windows.get(channel, self._default_windows)
        if windows is None:
            return self._from_us(_to_us(start) + need)
        if start.tzinfo is tz:
            # The common case: the deadline falls in the same day's window.
            window = windows.on(start.date())
            if window.steady:
                begin = start if start > window.opens_at else window.opens_at
                if begin < window.closes_at:
                    deadline = begin + timedelta(microseconds=need)
                    if deadline <= window.closes_at:
                        return deadline
        current = _to_us(start)
        day = start.astimezone(tz).date()
        while True:
            window = windows.on(day)
            begin_us = current if current > window.opens_us else window.opens_us
            if begin_us < window.closes_us:
                available = window.closes_us - begin_us
                if need <= available:
                    return self._from_us(begin_us + need)
                need -= available
            day += _DAY

    def working_days_deadline(self, start: datetime, n: int) -> date:
        """The date N working days after the local date of `start` (on-site, archive)."""
        return self.calendar.add_working_days(self.calendar.local_date(start), n)

    def _from_us(self, us: int) -> datetime:
        return (_EPOCH + timedelta(microseconds=us)).astimezone(self.tz)
