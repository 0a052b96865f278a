"""Scenarios for bpmn/enrolment: placement in förskoleklass / grundskola (skolval).

Guardian applies within the application window, the placement office checks residence and capacity,
places by the municipality's rules and sends the decision; decisions that override the guardians'
wish for organisational or financial reasons (9 kap. 15 § / 10 kap. 30 § 2 st. skollagen) run the
shared appeal sub-process; the guardian answers (reminder after 5 working days, deadline 2 weeks) and
the school administrator registers the pupil.
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

APPLY = ("guardian", "apply_for_school")
CHECK = ("placement_office", "check_residence_capacity")
PLACE = ("placement_office", "place_pupil")
DECIDE = ("placement_office", "decide_placement")
RESPOND = ("guardian", "respond_to_offer")
REGISTER = ("school_admin", "register_pupil")


def guardian_applies(drv: ProcessDriver) -> None:
    drv.complete(
        "apply_for_school",
        {
            "child_personnummer": "20190312-1232",
            "school_form": "preschool_class",
            "school_choice_1": "Björkskolan",
            "school_choice_2": "Ekskolan",
            "sibling_at_first_choice": True,
            "both_guardians_agree": True,
            "guardian_email": "anna.lind@example.se",
            "guardian_phone": "070-123 45 67",
        },
        lane="guardian",
    )


def office_checks(drv: ProcessDriver, *, resident: bool = True) -> None:
    drv.complete(
        "check_residence_capacity",
        {
            "resident_in_municipality": resident,
            "capacity_at_first_choice": True,
        },
        lane="placement_office",
    )


def office_places_and_decides(drv: ProcessDriver, basis: str) -> None:
    drv.complete(
        "place_pupil",
        {
            "placed_school": "Björkskolan" if basis == "wish_granted" else "Tallskolan",
            "placement_basis": basis,
            "sibling_priority_applied": basis == "wish_granted",
            "placement_motivation": "Placering enligt kommunens urvalsregler.",
        },
        lane="placement_office",
    )
    drv.complete(
        "decide_placement",
        {
            "decision_reference": "UN 2025/123",
            "decision_notified_at": drv.now().date().isoformat(),
        },
        lane="placement_office",
    )


def guardian_answers(drv: ProcessDriver, response: str) -> None:
    data = {"response": response}
    if response == "decline":
        data["decline_reason"] = "Vi har valt en fristående skola."
    drv.complete("respond_to_offer", data, lane="guardian")


def admin_registers(drv: ProcessDriver) -> None:
    drv.complete(
        "register_pupil", {"first_school_day": "2026-08-17", "class_group": "F A"}, lane="school_admin"
    )


def start() -> ProcessDriver:
    return ProcessDriver.from_folder("enrolment")


def test_guardian_applies_wish_granted_guardian_accepts_admin_registers() -> None:
    with start() as drv:
        guardian_applies(drv)
        office_checks(drv)
        office_places_and_decides(drv, "wish_granted")
        guardian_answers(drv, "accept")
        admin_registers(drv)
        assert drv.trail == [APPLY, CHECK, PLACE, DECIDE, RESPOND, REGISTER]
        assert main_ends(drv) == ["end_registered"]
        assert drv.is_completed


def test_wish_overridden_no_appeal_within_three_weeks_reminder_then_guardian_accepts() -> None:
    with start() as drv:
        guardian_applies(drv)
        office_checks(drv)
        office_places_and_decides(drv, "organisational_economic")
        assert drv.ready() == [], "the appeal window runs before the guardian is asked"
        let_appeal_window_pass(drv)
        assert drv.ready() == [RESPOND]
        assert drv.ready_tasks()[0].data["appeal_outcome"] == "no_appeal"
        drv.advance(timedelta(days=8))  # five working days pass: a reminder goes out, the task stays
        assert "end_reminder_sent" in main_ends(drv)
        assert drv.ready() == [RESPOND]
        guardian_answers(drv, "accept")
        admin_registers(drv)
        assert drv.trail == [APPLY, CHECK, PLACE, DECIDE, RESPOND, REGISTER]
        assert main_ends(drv) == ["end_registered", "end_reminder_sent"]
        assert drv.is_completed


def test_wish_overridden_for_the_other_pupils_safety_and_study_environment_is_appealable() -> None:
    # 10 kap. 30 § 2 st. skollagen: the second ground (trygghet och studiero) goes to ÖKN like the first.
    with start() as drv:
        guardian_applies(drv)
        office_checks(drv)
        office_places_and_decides(drv, "safety_study_environment")
        assert drv.ready() == [], "the appeal window runs before the guardian is asked"
        assert drv.data["appeal_decision_by"] == "placement_office"
        drv.advance(timedelta(days=3))
        send_appeal(drv)
        check_timeliness(drv, "placement_office", in_time=True)
        reconsider(drv, "placement_office", "not_changed")
        forward(drv, "placement_office")
        assert drv.ready_tasks()[0].data["appeal_outcome"] == "forwarded"
        guardian_answers(drv, "accept")
        admin_registers(drv)
        assert drv.trail == [
            APPLY,
            CHECK,
            PLACE,
            DECIDE,
            ("placement_office", "office_check_timeliness"),
            ("placement_office", "office_reconsider"),
            ("placement_office", "office_forward"),
            RESPOND,
            REGISTER,
        ]
        assert main_ends(drv) == ["end_registered"]
        assert drv.is_completed


def test_wish_overridden_appeal_reconsidered_by_office_then_guardian_declines() -> None:
    with start() as drv:
        guardian_applies(drv)
        office_checks(drv)
        office_places_and_decides(drv, "organisational_economic")
        drv.advance(timedelta(days=10))
        send_appeal(drv)
        check_timeliness(drv, "placement_office", in_time=True)
        reconsider(drv, "placement_office", "changed_as_requested")
        assert drv.ready_tasks()[0].data["appeal_outcome"] == "reconsidered"
        guardian_answers(drv, "decline")
        assert drv.trail == [
            APPLY,
            CHECK,
            PLACE,
            DECIDE,
            ("placement_office", "office_check_timeliness"),
            ("placement_office", "office_reconsider"),
            RESPOND,
        ]
        assert main_ends(drv) == ["end_declined"]
        assert drv.is_completed


def test_no_application_in_window_child_placed_near_home_no_answer_so_placement_stands() -> None:
    with start() as drv:
        drv.advance(timedelta(weeks=4, minutes=1))  # the application window closes unanswered
        assert drv.ready() == [CHECK]
        office_checks(drv)
        office_places_and_decides(drv, "no_wish_near_home")
        drv.advance(timedelta(weeks=2, minutes=1))  # reminder after 5 working days, deadline after 2 weeks
        assert drv.ready() == [REGISTER]
        admin_registers(drv)
        assert drv.trail == [APPLY, CHECK, PLACE, DECIDE, RESPOND, REGISTER]
        assert main_ends(drv) == ["end_registered", "end_reminder_sent"]
        assert drv.is_completed


def test_child_not_resident_is_referred_to_the_home_municipality() -> None:
    with start() as drv:
        guardian_applies(drv)
        office_checks(drv, resident=False)
        assert drv.trail == [APPLY, CHECK]
        assert main_ends(drv) == ["end_not_resident"]
        assert drv.is_completed
