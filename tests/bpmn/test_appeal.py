"""Scenarios for bpmn/appeal: the shared appeal sub-process (överklagande).

The window is three weeks (calendar days) from notification; an appeal arrives as the message
``appeal_received``; the decision-maker (lane = ``appeal_decision_by``) checks timeliness, may
reconsider and otherwise forwards the appeal to ÖKN.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ._drive_a import (
    MINUTE,
    THREE_WEEKS,
    assert_folder_well_formed,
    check_timeliness,
    forward,
    reconsider,
    send_appeal,
)
from .harness import ProcessDriver

DECISION_MAKERS = ["principal", "placement_office"]
PREFIX = {"principal": "principal_", "placement_office": "office_"}


def start(decision_by: str) -> ProcessDriver:
    return ProcessDriver.from_folder(
        "appeal", {"appeal_decision_by": decision_by, "decision_notified_at": "2025-08-18"}
    )


def outcome(drv: ProcessDriver) -> str:
    return drv.data["appeal_outcome"]


def test_appeal_folder_follows_the_contract_and_the_bpmn_xsd() -> None:
    assert_folder_well_formed("appeal")


def test_no_appeal_within_three_weeks_the_decision_stands() -> None:
    with start("principal") as drv:
        assert drv.ready() == []
        drv.advance(THREE_WEEKS - MINUTE)
        assert not drv.is_completed, "the window is still open one minute before three weeks"
        drv.advance(2 * MINUTE)
        assert drv.is_completed
        assert drv.ended_at == ["appeal_end_no_appeal"]
        assert drv.trail == []
        assert outcome(drv) == "no_appeal"


@pytest.mark.parametrize("lane", DECISION_MAKERS)
def test_late_appeal_is_dismissed_by_the_decision_maker(lane: str) -> None:
    with start(lane) as drv:
        drv.advance(timedelta(days=20))
        send_appeal(drv)
        check_timeliness(drv, lane, in_time=False)
        assert drv.trail == [(lane, f"{PREFIX[lane]}check_timeliness")]
        assert drv.ended_at == [f"{PREFIX[lane]}end_dismissed"]
        assert outcome(drv) == "dismissed_late"


@pytest.mark.parametrize("lane", DECISION_MAKERS)
def test_timely_appeal_is_granted_on_reconsideration(lane: str) -> None:
    with start(lane) as drv:
        drv.advance(timedelta(days=10))
        send_appeal(drv)
        check_timeliness(drv, lane, in_time=True)
        reconsider(drv, lane, "changed_as_requested")
        assert drv.trail == [
            (lane, f"{PREFIX[lane]}check_timeliness"),
            (lane, f"{PREFIX[lane]}reconsider"),
        ]
        assert drv.ended_at == [f"{PREFIX[lane]}end_reconsidered"]
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
            (lane, f"{PREFIX[lane]}check_timeliness"),
            (lane, f"{PREFIX[lane]}reconsider"),
            (lane, f"{PREFIX[lane]}forward"),
        ]
        assert drv.ended_at == [f"{PREFIX[lane]}end_forwarded"]
        assert outcome(drv) == "forwarded"


def test_timer_is_withdrawn_once_an_appeal_arrives() -> None:
    with start("placement_office") as drv:
        send_appeal(drv)
        drv.advance(THREE_WEEKS + timedelta(days=1))
        assert drv.ready() == [("placement_office", "office_check_timeliness")]
        assert not drv.is_completed
