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
All datetimes are aware; a naive one is taken as Asia/Shanghai.
"""

# NOTE for the calendar engineer (helper): the lead wrote this first version while
# you were queued, so the CLI could work. You own this file: keep the API (it matches
# your brief), review it, fix what is wrong, write the tests, and remove this note.

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = timedelta(days=1)


def as_aware(dt: datetime, tz: tzinfo = SHANGHAI) -> datetime:
    """Return `dt` unchanged when aware; a naive `dt` is taken to be in `tz`."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        return dt.replace(tzinfo=tz)
    return dt


@dataclass(frozen=True, slots=True)
class HolidayOverride:
    """A policy day that wins over the package and the weekday rule."""

    date: date
    working_day: bool
    name: str


@dataclass(frozen=True, slots=True)
class DayInfo:
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
        self.working_weekdays = frozenset(working_weekdays)
        self.overrides = {o.date: o for o in overrides}
        self.use_statutory = use_statutory
        self.tz = tz
        self._cache: dict[date, DayInfo] = {}
        self._warned_years: set[int] = set()

    # -- single days -----------------------------------------------------------

    def day(self, d: date) -> DayInfo:
        """Whether `d` is a working day, and the reason."""
        info = self._cache.get(d)
        if info is None:
            info = self._cache[d] = self._classify(d)
        return info

    def is_working_day(self, d: date) -> bool:
        return self.day(d).working_day

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

    def _classify(self, d: date) -> DayInfo:
        override = self.overrides.get(d)
        if override is not None:
            return DayInfo(d, override.working_day, f"override: {override.name}", override.name)
        if not self.use_statutory:
            return self._weekday_rule(d)
        if d.year not in _covered_years():
            if d.year not in self._warned_years:
                self._warned_years.add(d.year)
                log.warning(
                    "no statutory holiday data for %d in chinesecalendar: using the weekday rule "
                    "plus the policy's holiday overrides",
                    d.year,
                )
            rule = self._weekday_rule(d)
            return DayInfo(d, rule.working_day, f"no holiday data for {d.year}: weekend rule")
        holiday_name = chinese_calendar.holidays.get(d)
        if holiday_name is not None:
            return DayInfo(d, False, _holiday_label(holiday_name), _holiday_label(holiday_name))
        makeup = chinese_calendar.workdays.get(d)
        if makeup is not None and d.isoweekday() >= 6:
            return DayInfo(d, True, "adjusted workday", _holiday_label(makeup))
        return self._weekday_rule(d)

    # -- counting --------------------------------------------------------------

    def next_working_day(self, d: date) -> date:
        """`d` itself when it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += _DAY
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after `d` (n = 0: `d` or the next working day)."""
        if n < 0:
            raise ValueError("n must not be negative")
        current = self.next_working_day(d) if n == 0 else d
        while n > 0:
            current += _DAY
            if self.is_working_day(current):
                n -= 1
        return current

    def working_day_number(self, opened: date | datetime, at: date | datetime) -> int:
        """Working day number of `at` for a ticket opened at `opened` (day 1 = opening day).

        A ticket opened on a rest day has its day 1 on the next working day;
        rest days keep the number of the working day before them; 0 means `at`
        lies before day 1.
        """
        start = self._local_date(opened)
        end = self._local_date(at)
        first = self.next_working_day(start)
        if end < first:
            return 0
        number = 0
        current = first
        while current <= end:
            if self.is_working_day(current):
                number += 1
            current += _DAY
        return number

    def _local_date(self, value: date | datetime) -> date:
        if isinstance(value, datetime):
            return as_aware(value, self.tz).astimezone(self.tz).date()
        return value


def _holiday_label(name: object) -> str:
    # chinesecalendar names holidays by an Enum-like value ("National Day").
    return str(getattr(name, "value", name))


_COVERED: frozenset[int] | None = None


def _covered_years() -> frozenset[int]:
    global _COVERED
    if _COVERED is None:
        years = {d.year for d in chinese_calendar.holidays} | {
            d.year for d in chinese_calendar.workdays
        }
        _COVERED = frozenset(years)
    return _COVERED


@dataclass(frozen=True, slots=True)
class AttendedHours:
    """Daily attended window in local time; both None means around the clock."""

    opens: time | None = None
    closes: time | None = None

    @property
    def always(self) -> bool:
        return self.opens is None or self.closes is None

    @classmethod
    def around_the_clock(cls) -> AttendedHours:
        return cls(None, None)


class AttendedClock:
    """Counts attended time per channel, in the calendar's time zone."""

    def __init__(
        self,
        calendar: WorkCalendar,
        hours_by_channel: Mapping[str, AttendedHours],
        default: AttendedHours,
    ) -> None:
        self.calendar = calendar
        self.tz = calendar.tz
        self.hours_by_channel = dict(hours_by_channel)
        self.default = default

    def hours(self, channel: str) -> AttendedHours:
        return self.hours_by_channel.get(channel, self.default)

    def _window(self, day: date, hours: AttendedHours) -> tuple[datetime, datetime]:
        assert hours.opens is not None and hours.closes is not None
        return (
            datetime.combine(day, hours.opens, self.tz),
            datetime.combine(day, hours.closes, self.tz),
        )

    def is_attended(self, t: datetime, channel: str) -> bool:
        hours = self.hours(channel)
        if hours.always:
            return True
        local = as_aware(t, self.tz).astimezone(self.tz)
        assert hours.opens is not None and hours.closes is not None
        return hours.opens <= local.timetz().replace(tzinfo=None) < hours.closes

    def clock_start(self, t: datetime, channel: str) -> datetime:
        """`t` when attended, else the next opening (in the calendar's zone)."""
        hours = self.hours(channel)
        local = as_aware(t, self.tz).astimezone(self.tz)
        if hours.always:
            return local
        opens, closes = self._window(local.date(), hours)
        if local < opens:
            return opens
        if local < closes:
            return local
        return self._window(local.date() + _DAY, hours)[0]

    def attended_seconds_between(self, a: datetime, b: datetime, channel: str) -> float:
        """Seconds of attended time in [a, b); 0 when b is not after a."""
        a = as_aware(a, self.tz)
        b = as_aware(b, self.tz)
        if b <= a:
            return 0.0
        hours = self.hours(channel)
        if hours.always:
            return (b - a).total_seconds()
        start = self.clock_start(a, channel)
        end_local = b.astimezone(self.tz)
        if end_local <= start:
            return 0.0
        opens, closes = self._window(start.date(), hours)
        if end_local <= closes:  # the common case: same attended window
            return (end_local - start).total_seconds()
        total = (closes - start).total_seconds()
        per_day = (closes - opens).total_seconds()
        day = start.date() + _DAY
        last = end_local.date()
        if last > day:
            total += per_day * (last - day).days
            day = last
        opens, closes = self._window(day, hours)
        if end_local > opens:
            total += (min(end_local, closes) - opens).total_seconds()
        return total

    def deadline_after(self, start: datetime, seconds: float, channel: str) -> datetime:
        """The moment at which `seconds` of attended time have passed after `start`."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        hours = self.hours(channel)
        begin = self.clock_start(start, channel)
        if hours.always:
            return begin + timedelta(seconds=seconds)
        opens, closes = self._window(begin.date(), hours)
        left_today = (closes - begin).total_seconds()
        if seconds <= left_today:
            return begin + timedelta(seconds=seconds)
        remaining = seconds - left_today
        per_day = (closes - opens).total_seconds()
        full_days, rest = divmod(remaining, per_day)
        day = begin.date() + timedelta(days=int(full_days) + 1)
        if rest == 0:
            # Exactly at a closing time: the previous day's close.
            return self._window(day - _DAY, hours)[1]
        return self._window(day, hours)[0] + timedelta(seconds=rest)

    def working_days_deadline(self, start: datetime, n: int) -> date:
        """The date N working days after the date of `start` (local)."""
        local = as_aware(start, self.tz).astimezone(self.tz).date()
        return self.calendar.add_working_days(local, n)
