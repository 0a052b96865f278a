"""Steps of the shared appeal sub-process (bpmn/appeal), reused by the scenarios of every folder that
calls it (appeal itself, enrolment, transfer)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .harness import ProcessDriver

THREE_WEEKS = timedelta(weeks=3)
MINUTE = timedelta(minutes=1)
# The appeal model's element ids start with the decision-maker's lane.
LANE_PREFIX = {"principal": "principal_", "placement_office": "office_"}


def send_appeal(drv: ProcessDriver, payload: dict[str, Any] | None = None) -> None:
    """The e-service delivers a written appeal to the decision-maker (message ``appeal_received``)."""
    before = drv.ready()
    drv.send_message("appeal_received", payload or {"text": "Vi överklagar beslutet."})
    assert drv.ready() != before or drv.is_completed, "the appeal message was not delivered"


def check_timeliness(drv: ProcessDriver, lane: str, *, in_time: bool) -> None:
    drv.complete(
        f"{LANE_PREFIX[lane]}check_timeliness",
        {
            "appeal_received_on": drv.now().date().isoformat(),
            "appellant": "guardians",
            "two_guardians_with_custody": True,
            "all_custodians_stand_behind": True,
            "appeal_in_time": in_time,
        },
        lane=lane,
    )


def reconsider(drv: ProcessDriver, lane: str, result: str) -> None:
    drv.complete(
        f"{LANE_PREFIX[lane]}reconsider",
        {
            "reconsideration_result": result,
            "reconsideration_reason": "Beslutet har omprövats mot vad som anförts i överklagandet.",
        },
        lane=lane,
    )


def forward(drv: ProcessDriver, lane: str) -> None:
    drv.complete(
        f"{LANE_PREFIX[lane]}forward",
        {
            "forwarded_to": "okn",
            "forwarded_on": drv.now().date().isoformat(),
            "statement_attached": True,
        },
        lane=lane,
    )


def appeal_deadline(drv: ProcessDriver) -> datetime:
    """When the waiting appeal window closes: the end of its last day, counted from ``decision_notified_at``
    and moved past weekends and holidays (lag (1930:173) 2 §)."""
    due = [t.due_at for t in drv.workflow.waiting_timers() if t.element_id == "appeal_window_expired"]
    assert len(due) == 1 and due[0] is not None, f"no appeal window is open: {drv.workflow.waiting_timers()}"
    return due[0]


def let_appeal_window_pass(drv: ProcessDriver) -> None:
    """Nothing arrives: the window stays open to the end of its last day, then the decision stands."""
    drv.advance(appeal_deadline(drv) - drv.now() - MINUTE)
    assert [t for t in drv.workflow.waiting_timers() if t.element_id == "appeal_window_expired"], (
        "the appeal window closed before the end of its last day"
    )
    drv.advance(2 * MINUTE)


def main_ends(drv: ProcessDriver) -> list[str]:
    """End events of the calling process only, sorted (the called appeal's ends are in ``ended_all``)."""
    return sorted(drv.ended_at)
