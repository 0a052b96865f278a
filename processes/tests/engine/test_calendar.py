from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from processes.engine import BusinessCalendar, set_default_calendar
from processes.engine.calendar import get_default_calendar
from processes.engine.expressions import evaluate


@pytest.fixture
def cal() -> BusinessCalendar:
    return BusinessCalendar()


def test_easter_monday_2027_is_not_a_working_day(cal: BusinessCalendar) -> None:
    assert not cal.is_working_day(date(2027, 3, 29))
    assert not cal.is_working_day(date(2027, 3, 26))  # Good Friday
    assert cal.is_working_day(date(2027, 3, 30))


def test_midsummer_eve_and_other_eves_are_not_working_days(cal: BusinessCalendar) -> None:
    assert not cal.is_working_day(date(2027, 6, 25))  # Midsommarafton (Friday)
    assert not cal.is_working_day(date(2027, 12, 24))
    assert not cal.is_working_day(date(2027, 12, 31))
    assert cal.is_working_day(date(2027, 6, 24))


def test_weekend_is_skipped(cal: BusinessCalendar) -> None:
    assert not cal.is_working_day(date(2027, 4, 10)) and not cal.is_working_day(date(2027, 4, 11))
    assert cal.add_working_days(date(2027, 4, 9), 1) == date(2027, 4, 12)  # Friday -> Monday


def test_add_working_days_over_easter(cal: BusinessCalendar) -> None:
    # Thu 25 Mar 2027 + 1 working day skips Good Friday, the weekend and Easter Monday.
    assert cal.add_working_days(date(2027, 3, 25), 1) == date(2027, 3, 30)
    assert cal.working_days_between(date(2027, 3, 25), date(2027, 3, 30)) == 1
    assert cal.working_days_between(date(2027, 3, 30), date(2027, 3, 25)) == -1


def test_datetime_keeps_time_of_day(cal: BusinessCalendar) -> None:
    start = datetime(2027, 6, 23, 9, 30, tzinfo=UTC)  # Wed; Thu counts, Midsommarafton does not
    assert cal.add_working_days(start, 2) == datetime(2027, 6, 28, 9, 30, tzinfo=UTC)


def test_summer_break() -> None:
    cal = BusinessCalendar(summer_break=((6, 15), (8, 15)))
    assert not cal.is_working_day(date(2027, 7, 14))
    assert cal.add_working_days(date(2027, 6, 14), 1) == date(2027, 8, 16)


def test_working_days_in_expressions_uses_the_default_calendar() -> None:
    previous = get_default_calendar()
    try:
        set_default_calendar(BusinessCalendar(extra_closed_days=[date(2027, 4, 13)]))
        from processes.engine import clock

        with clock.frozen(datetime(2027, 4, 12, 8, 0, tzinfo=UTC)):  # Monday, 10:00 in Stockholm
            # 1 working day after Monday, with Tuesday closed, ends Wednesday 23:59:59 Stockholm time.
            assert evaluate("working_days(1)") == f"PT{(2 * 24 + 14) * 3600 - 1}S"
    finally:
        set_default_calendar(previous)
