"""Scenarios for bpmn/transfer: school transfer (skolbyte), within or between municipalities.

The guardian applies; between municipalities the home municipality gives its opinion and agrees on
inter-municipal compensation; the receiving school decides; refusals that are appealable to ÖKN
(10 kap. 30 § 2 st. and 10 kap. 25 § skollagen) run the shared appeal sub-process; after approval the
sending school sends the handover (reminder after 5 working days), the receiving school takes it in,
both registries are updated in parallel and the pupil starts.
"""

from __future__ import annotations

from datetime import timedelta

from .appeal_steps import (
    check_timeliness,
    forward,
    let_appeal_window_pass,
    main_ends,
    reconsider,
    send_appeal,
)
from .harness import ProcessDriver

APPLY = ("guardian", "apply_for_transfer")
CONSENT = ("governing_body", "home_municipality_consent")
DECIDE = ("receiving_school", "decide_transfer")
SEND = ("sending_school", "send_handover")
RECEIVE = ("receiving_school", "receive_handover")
REGISTER_IN = ("receiving_school", "register_at_receiving")
REGISTER_OUT = ("sending_school", "deregister_at_sending")
STARTS = ("receiving_school", "pupil_starts")
APPEAL_CHECK = ("principal", "principal_check_timeliness")
APPEAL_RECONSIDER = ("principal", "principal_reconsider")
APPEAL_FORWARD = ("principal", "principal_forward")


def guardian_applies(drv: ProcessDriver, *, cross_municipality: bool) -> None:
    drv.complete(
        "apply_for_transfer",
        {
            "pupil_personnummer": "20120419-7899",
            "current_school": "Björkskolan",
            "requested_school": "Ekskolan",
            "requested_start_date": "2025-09-15",
            "cross_municipality": cross_municipality,
            "transfer_reason": "Familjen har flyttat.",
            "both_guardians_agree": True,
            "guardian_email": "lena.berg@example.se",
        },
        lane="guardian",
    )


def home_municipality_agrees(drv: ProcessDriver) -> None:
    drv.complete(
        "home_municipality_consent",
        {
            "home_municipality_opinion": "supports",
            "reimbursement_agreed": True,
            "opinion_date": drv.now().date().isoformat(),
        },
        lane="governing_body",
    )


def receiving_school_decides(drv: ProcessDriver, decision: str) -> None:
    drv.complete(
        "decide_transfer",
        {
            "decision": decision,
            "decision_reasons": "Prövning av kapacitet i årskurs 7.",
            "decision_notified_at": drv.now().date().isoformat(),
        },
        lane="receiving_school",
    )


def handover_and_start(drv: ProcessDriver) -> None:
    drv.complete(
        "send_handover",
        {
            "has_action_programme": True,
            "handover_summary": "Åtgärdsprogram i matematik bifogas.",
            "documents_sent_on": drv.now().date().isoformat(),
        },
        lane="sending_school",
    )
    drv.complete(
        "receive_handover",
        {
            "handover_received_on": drv.now().date().isoformat(),
            "support_to_continue": True,
            "mentor_name": "Karin Ek",
        },
        lane="receiving_school",
    )
    assert drv.ready() == [REGISTER_IN, REGISTER_OUT], "both registries are updated in parallel"
    drv.complete("deregister_at_sending", {"deregistered_on": "2025-09-12"}, lane="sending_school")
    drv.complete(
        "register_at_receiving", {"registered_on": "2025-09-15", "class_group": "7B"}, lane="receiving_school"
    )
    drv.complete(
        "pupil_starts",
        {"first_school_day": "2025-09-15", "welcome_meeting_held": True},
        lane="receiving_school",
    )


def start() -> ProcessDriver:
    return ProcessDriver.from_folder("transfer")


def test_same_municipality_approved_handover_registries_updated_pupil_starts() -> None:
    with start() as drv:
        guardian_applies(drv, cross_municipality=False)
        receiving_school_decides(drv, "approved")
        handover_and_start(drv)
        assert drv.trail == [APPLY, DECIDE, SEND, RECEIVE, REGISTER_IN, REGISTER_OUT, STARTS]
        assert main_ends(drv) == ["end_pupil_started"]
        assert drv.is_completed


def test_other_municipality_consents_refused_for_capacity_reconsidered_late_handover_reminded() -> None:
    with start() as drv:
        guardian_applies(drv, cross_municipality=True)
        home_municipality_agrees(drv)
        receiving_school_decides(drv, "refused_capacity")
        drv.advance(timedelta(days=5))
        send_appeal(drv)
        check_timeliness(drv, "principal", in_time=True)
        reconsider(drv, "principal", "changed_as_requested")
        assert drv.ready() == [SEND]
        drv.advance(timedelta(days=8))  # five working days without a handover: reminder, task stays
        assert drv.ready() == [SEND]
        handover_and_start(drv)
        assert drv.trail == [
            APPLY,
            CONSENT,
            DECIDE,
            APPEAL_CHECK,
            APPEAL_RECONSIDER,
            SEND,
            RECEIVE,
            REGISTER_IN,
            REGISTER_OUT,
            STARTS,
        ]
        assert main_ends(drv) == ["end_handover_reminded", "end_pupil_started"]
        assert drv.is_completed


def test_refused_for_capacity_no_appeal_within_three_weeks_refusal_stands() -> None:
    with start() as drv:
        guardian_applies(drv, cross_municipality=False)
        receiving_school_decides(drv, "refused_capacity")
        let_appeal_window_pass(drv)
        assert drv.trail == [APPLY, DECIDE]
        assert main_ends(drv) == ["end_refused_after_appeal"]
        assert drv.is_completed


def test_refused_for_the_other_pupils_safety_and_study_environment_is_appealable() -> None:
    # 10 kap. 30 § 2 st. skollagen: the second ground (trygghet och studiero) goes to ÖKN like the first.
    with start() as drv:
        guardian_applies(drv, cross_municipality=False)
        receiving_school_decides(drv, "refused_safety_study_environment")
        assert drv.ready() == [], "the appeal window runs"
        let_appeal_window_pass(drv)
        assert drv.trail == [APPLY, DECIDE]
        assert main_ends(drv) == ["end_refused_after_appeal"]
        assert drv.data["appeal_outcome"] == "no_appeal"
        assert drv.is_completed


def test_refused_for_safety_and_study_environment_reconsidered_after_appeal() -> None:
    with start() as drv:
        guardian_applies(drv, cross_municipality=False)
        receiving_school_decides(drv, "refused_safety_study_environment")
        send_appeal(drv)
        check_timeliness(drv, "principal", in_time=True)
        reconsider(drv, "principal", "changed_as_requested")
        assert drv.ready() == [SEND]
        handover_and_start(drv)
        assert drv.trail == [
            APPLY,
            DECIDE,
            APPEAL_CHECK,
            APPEAL_RECONSIDER,
            SEND,
            RECEIVE,
            REGISTER_IN,
            REGISTER_OUT,
            STARTS,
        ]
        assert main_ends(drv) == ["end_pupil_started"]


def test_other_municipality_does_not_receive_pupil_appeal_forwarded_to_okn() -> None:
    with start() as drv:
        guardian_applies(drv, cross_municipality=True)
        home_municipality_agrees(drv)
        receiving_school_decides(drv, "refused_not_received")
        send_appeal(drv)
        check_timeliness(drv, "principal", in_time=True)
        reconsider(drv, "principal", "not_changed")
        forward(drv, "principal")
        assert drv.trail == [APPLY, CONSENT, DECIDE, APPEAL_CHECK, APPEAL_RECONSIDER, APPEAL_FORWARD]
        assert main_ends(drv) == ["end_refused_after_appeal"]
        assert drv.is_completed


def test_refused_under_proximity_rule_is_not_appealable_to_okn() -> None:
    with start() as drv:
        guardian_applies(drv, cross_municipality=False)
        receiving_school_decides(drv, "refused_proximity")
        assert drv.trail == [APPLY, DECIDE]
        assert main_ends(drv) == ["end_refused_not_appealable"]
        assert drv.is_completed
