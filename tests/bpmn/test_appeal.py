"""Scenarios for bpmn/appeal: the shared appeal sub-process (överklagande).

The window is three weeks (calendar days) from notification (``decision_notified_at``), to the end of its last
day, which moves to the next weekday if it is a Saturday, Sunday, public holiday or one of the three eves
(lag (1930:173) 2 §); an appeal arrives as the message
``appeal_received``; the decision-maker (lane = ``appeal_decision_by``) checks timeliness, may
reconsider and otherwise forwards the appeal to ÖKN.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from .appeal_steps import (
    LANE_PREFIX,
    MINUTE,
    THREE_WEEKS,
    appeal_deadline,
    check_timeliness,
    forward,
    let_appeal_window_pass,
    reconsider,
    send_appeal,
)
from .harness import STOCKHOLM, ProcessDriver

DECISION_MAKERS = ["principal", "placement_office"]


def start(decision_by: str) -> ProcessDriver:
    return ProcessDriver.from_folder(
        "appeal", {"appeal_decision_by": decision_by, "decision_notified_at": "2025-08-18"}
    )


def outcome(drv: ProcessDriver) -> str:
    return drv.data["appeal_outcome"]


def test_no_appeal_within_three_weeks_the_decision_stands() -> None:
    with start("principal") as drv:  # notified Monday 18 Aug 2025: the last day is Monday 8 Sep
        assert drv.ready() == []
        assert appeal_deadline(drv) == datetime(2025, 9, 8, 23, 59, 59, tzinfo=STOCKHOLM)
        drv.advance(THREE_WEEKS + timedelta(hours=15, minutes=58))
        assert not drv.is_completed, "the window is open to the end of its last day"
        drv.advance(2 * MINUTE)
        assert drv.is_completed
        assert drv.ended_at == ["appeal_end_no_appeal"]
        assert drv.trail == []
        assert outcome(drv) == "no_appeal"


@pytest.mark.parametrize(
    "notified, last_day",
    [
        ("2025-08-22", date(2025, 9, 12)),  # Friday + 3 weeks = a working Friday: that day
        ("2025-08-24", date(2025, 9, 15)),  # Sunday + 3 weeks = Sunday: the next Monday
        ("2027-06-04", date(2027, 6, 28)),  # ends on Midsommarafton: past Midsommardagen to Monday
        ("2026-12-03", date(2026, 12, 28)),  # ends on julafton: past juldagen and the weekend
    ],
)
def test_window_ending_on_a_weekend_or_holiday_runs_to_the_next_weekday(
    notified: str, last_day: date
) -> None:
    """Lag (1930:173) 2 §: an appeal is in time if it comes in on the next weekday."""
    start_at = datetime.combine(date.fromisoformat(notified), time(9), STOCKHOLM)
    data = {"appeal_decision_by": "placement_office", "decision_notified_at": notified}
    with ProcessDriver.from_folder("appeal", data, start_at=start_at) as drv:
        assert appeal_deadline(drv) == datetime.combine(last_day, time(23, 59, 59), STOCKHOLM)
        let_appeal_window_pass(drv)
        assert drv.ended_at == ["appeal_end_no_appeal"]


def test_appeal_on_the_rolled_last_day_is_still_taken_in() -> None:
    start_at = datetime(2027, 6, 4, 9, 0, tzinfo=STOCKHOLM)
    data = {"appeal_decision_by": "principal", "decision_notified_at": "2027-06-04"}
    with ProcessDriver.from_folder("appeal", data, start_at=start_at) as drv:
        drv.advance(datetime(2027, 6, 28, 16, 0, tzinfo=STOCKHOLM) - drv.now())  # Monday after midsummer
        assert not drv.is_completed
        send_appeal(drv)
        assert drv.ready() == [("principal", "principal_check_timeliness")]


def test_window_counts_from_the_notification_date_not_from_the_call() -> None:
    # The decision reached the guardians on Friday 15 Aug; the case reaches the appeal step on Monday.
    data = {"appeal_decision_by": "principal", "decision_notified_at": "2025-08-15"}
    with ProcessDriver.from_folder("appeal", data) as drv:
        assert appeal_deadline(drv) == datetime(2025, 9, 5, 23, 59, 59, tzinfo=STOCKHOLM)


def test_window_counts_from_today_when_the_caller_leaves_the_date_empty() -> None:
    with ProcessDriver.from_folder(
        "appeal", {"appeal_decision_by": "principal", "decision_notified_at": None}
    ) as drv:
        assert appeal_deadline(drv) == datetime(2025, 9, 8, 23, 59, 59, tzinfo=STOCKHOLM)


@pytest.mark.parametrize("lane", DECISION_MAKERS)
def test_late_appeal_is_dismissed_by_the_decision_maker(lane: str) -> None:
    with start(lane) as drv:
        drv.advance(timedelta(days=20))
        send_appeal(drv)
        check_timeliness(drv, lane, in_time=False)
        assert drv.trail == [(lane, f"{LANE_PREFIX[lane]}check_timeliness")]
        assert drv.ended_at == [f"{LANE_PREFIX[lane]}end_dismissed"]
        assert outcome(drv) == "dismissed_late"


@pytest.mark.parametrize("lane", DECISION_MAKERS)
def test_timely_appeal_is_granted_on_reconsideration(lane: str) -> None:
    with start(lane) as drv:
        drv.advance(timedelta(days=10))
        send_appeal(drv)
        check_timeliness(drv, lane, in_time=True)
        reconsider(drv, lane, "changed_as_requested")
        assert drv.trail == [
            (lane, f"{LANE_PREFIX[lane]}check_timeliness"),
            (lane, f"{LANE_PREFIX[lane]}reconsider"),
        ]
        assert drv.ended_at == [f"{LANE_PREFIX[lane]}end_reconsidered"]
        assert outcome(drv) == "reconsidered"


@pytest.mark.parametrize("lane", DECISION_MAKERS)
@pytest.mark.parametrize("result", ["not_changed", "changed_partly"])
def test_timely_appeal_not_fully_granted_is_forwarded_to_okn(lane: str, result: str) -> None:
    with start(lane) as drv:
        drv.advance(timedelta(days=2))
        send_appeal(drv)
        check_timeliness(drv, lane, in_time=True)
        reconsider(drv, lane, result)
        forward(drv, lane)
        assert drv.trail == [
            (lane, f"{LANE_PREFIX[lane]}check_timeliness"),
            (lane, f"{LANE_PREFIX[lane]}reconsider"),
            (lane, f"{LANE_PREFIX[lane]}forward"),
        ]
        assert drv.ended_at == [f"{LANE_PREFIX[lane]}end_forwarded"]
        assert outcome(drv) == "forwarded"


def test_timer_is_withdrawn_once_an_appeal_arrives() -> None:
    with start("placement_office") as drv:
        send_appeal(drv)
        drv.advance(THREE_WEEKS + timedelta(days=1))
        assert drv.ready() == [("placement_office", "office_check_timeliness")]
        assert not drv.is_completed
