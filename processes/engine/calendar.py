"""Swedish business calendar for deadlines counted in working days.

Non-working days: Saturdays, Sundays, Swedish public holidays, and - as is common practice in
Swedish public administration, although they are not public holidays by law - Midsommarafton,
julafton and nyårsafton. An optional summer break (school holidays) is also non-working.
"""

from __future__ import annotations

import calendar as _month_calendar
import re
import threading
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import holidays

from . import clock

STOCKHOLM = ZoneInfo("Europe/Stockholm")

D = TypeVar("D", date, datetime)

# A year has ~250 working days; this caps loops when a caller passes an absurd n from an expression.
MAX_WORKING_DAYS = 5000

# A statutory period: years, months, weeks and days only (lag (1930:173) counts whole days).
_PERIOD = re.compile(r"P(?:(\d{1,3})Y)?(?:(\d{1,4})M)?(?:(\d{1,4})W)?(?:(\d{1,5})D)?")


class BusinessCalendar:
    """Working-day arithmetic by the Swedish calendar.

    ``summer_break`` is ``((start_month, start_day), (end_month, end_day))``, both inclusive, applied
    every year. ``extra_closed_days`` adds local closures (e.g. a municipal "klämdag").
    """

    def __init__(
        self,
        years: Iterable[int] | None = None,
        *,
        summer_break: tuple[tuple[int, int], tuple[int, int]] | None = None,
        extra_closed_days: Iterable[date] = (),
        eves_are_holidays: bool = True,
    ) -> None:
        categories = ("public", "de_facto") if eves_are_holidays else ("public",)
        # holidays.Sweden can list every Sunday as a holiday; weekends are handled by weekday() here,
        # so Sundays are excluded to keep the holiday list meaningful for display.
        self._holidays = holidays.Sweden(
            years=list(years or []), categories=categories, include_sundays=False, language="sv"
        )
        # Lag (1930:173) 2 § names exactly the public holidays and these three eves ("de_facto").
        self._statutory_holidays = holidays.Sweden(
            years=list(years or []), categories=("public", "de_facto"), include_sundays=False, language="sv"
        )
        self._lock = threading.Lock()
        self.summer_break = summer_break
        self.extra_closed_days = frozenset(extra_closed_days)

    def holiday_name(self, day: date) -> str | None:
        """Swedish name of the holiday on ``day``, if any."""
        with self._lock:  # holidays expands years lazily by mutating itself
            name = self._holidays.get(day)
        return str(name) if name else None

    def in_summer_break(self, day: date) -> bool:
        if self.summer_break is None:
            return False
        (sm, sd), (em, ed) = self.summer_break
        return (sm, sd) <= (day.month, day.day) <= (em, ed)

    def is_working_day(self, day: date | datetime) -> bool:
        """True if ``day`` is a weekday that is not a holiday, an eve, a closure or summer break."""
        d = day.date() if isinstance(day, datetime) else day
        if d.weekday() >= 5 or d in self.extra_closed_days or self.in_summer_break(d):
            return False
        return self.holiday_name(d) is None

    def add_working_days(self, start: D, n: int) -> D:
        """The ``n``-th working day after ``start`` (``start`` itself is not counted).

        A datetime keeps its time of day. ``n == 0`` returns ``start``; a negative ``n`` counts back.
        """
        if abs(n) > MAX_WORKING_DAYS:
            raise ValueError(f"working day count {n} is out of range")
        step = timedelta(days=1 if n >= 0 else -1)
        current = start
        remaining = abs(n)
        while remaining:
            current = current + step
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Working days ``d`` with ``a < d <= b``; negative when ``b`` is before ``a``."""
        da = a.date() if isinstance(a, datetime) else a
        db = b.date() if isinstance(b, datetime) else b
        sign = 1
        if db < da:
            da, db, sign = db, da, -1
        count = 0
        current = da
        while current < db:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return sign * count

    def is_statutory_weekday(self, day: date | datetime) -> bool:
        """Whether a statutory period may end on ``day`` (lag (1930:173) om beräkning av lagstadgad tid 2 §).

        Not a Saturday, Sunday, public holiday, Midsommarafton, julafton or nyårsafton. Unlike
        :meth:`is_working_day` the summer break and local closures do not count: the law does not know them.
        """
        d = day.date() if isinstance(day, datetime) else day
        if d.weekday() >= 5:
            return False
        with self._lock:
            return d not in self._statutory_holidays

    def period_last_day(self, start: date, duration: str) -> date:
        """Last day of a statutory period of ``duration`` counted from ``start`` (the day of notification).

        Lag (1930:173) 1 §: a period in weeks ends on the same weekday, one in months or years on the same
        date (the month's last day if it has no such date); days are added as days. 2 §: if that day is a
        Saturday, Sunday, public holiday, Midsommarafton, julafton or nyårsafton, the period ends on the next
        weekday. ``duration`` is an ISO 8601 period of years, months, weeks and days (``"P3W"``, ``"P2M"``).
        """
        match = _PERIOD.fullmatch(duration.strip()) if isinstance(duration, str) else None
        if match is None or not any(match.groups()):
            raise ValueError(f"{duration!r} is not an ISO 8601 period of years, months, weeks or days")
        years, months, weeks, days = (int(part or 0) for part in match.groups())
        month_index = start.year * 12 + start.month - 1 + years * 12 + months
        year, month = divmod(month_index, 12)
        month += 1
        last_of_month = _month_calendar.monthrange(year, month)[1]
        last = start.replace(year=year, month=month, day=min(start.day, last_of_month))
        last += timedelta(weeks=weeks, days=days)
        while not self.is_statutory_weekday(last):
            last += timedelta(days=1)
        return last

    def period_deadline(self, start: date, duration: str) -> datetime:
        """The end (23:59:59 Europe/Stockholm) of :meth:`period_last_day`: when a ``timeDate`` timer fires."""
        return datetime.combine(self.period_last_day(start, duration), time(23, 59, 59), STOCKHOLM)

    def working_days_duration(self, n: int, now: datetime | None = None) -> str:
        """ISO 8601 duration from ``now`` to 23:59:59 (Stockholm) of the n-th working day after today."""
        current = (now or clock.now()).astimezone(STOCKHOLM)
        due_day = self.add_working_days(current.date(), n)
        due = datetime.combine(due_day, time(23, 59, 59), STOCKHOLM)
        seconds = max(0, int((due - current).total_seconds()))
        return f"PT{seconds}S"


_default_calendar = BusinessCalendar()
_default_lock = threading.Lock()


def set_default_calendar(calendar: BusinessCalendar) -> None:
    """Replace the calendar behind ``working_days(n)`` in expressions (called at platform start-up)."""
    global _default_calendar
    with _default_lock:
        _default_calendar = calendar


def get_default_calendar() -> BusinessCalendar:
    return _default_calendar
