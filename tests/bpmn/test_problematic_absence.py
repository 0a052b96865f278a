"""Problematic absence (7 kap. 19 a § skollagen): signal, prompt investigation, measures, follow-up."""

from datetime import timedelta

from tests.bpmn.harness import ProcessDriver

START = {"pupil_name": "Ella Ek", "pupil_personnummer": "20120304-1239", "school_unit": "Björkskolan"}
SIGNAL = {
    "absence_from": "2025-08-18",
    "absence_to": "2025-09-12",
    "absence_percent": 22.5,
    "absence_kind": "mixed",
}
MEASURES = {
    "measures_description": "Anpassat schema, kontakt med kurator",
    "measures_decided_on": "2025-09-30",
}
PARALLEL = [
    ("governing_body", "register_investigation"),
    ("student_health", "investigate_absence"),
    ("guardian", "guardian_consultation"),
    ("pupil", "pupil_consultation"),
]


def assess(choice: str) -> dict:
    return {"absence_investigation": choice, "assessment_reasoning": "Mönster av ströfrånvaro"}


def investigate_together(drv: ProcessDriver) -> None:
    assert drv.ready() == PARALLEL
    drv.complete("register_investigation", {"notice_registered_on": "2025-09-16"}, lane="governing_body")
    drv.complete(
        "guardian_consultation",
        {"guardian_views": "Oro för mobbning", "guardian_phone": "070-123 45 67"},
        lane="guardian",
    )
    drv.complete("pupil_consultation", {"pupil_views": "Det är stökigt i matsalen"}, lane="pupil")
    drv.complete(
        "investigate_absence",
        {"absence_causes": "Otrygghet", "investigation_completed_on": "2025-09-26"},
        lane="student_health",
    )


def test_absence_investigated_with_everyone_and_followed_up_until_attendance_improves() -> None:
    with ProcessDriver.from_folder("problematic_absence", START) as drv:
        drv.complete("report_absence", SIGNAL, lane="teacher")
        drv.complete("assess_absence", assess("investigate"), lane="principal")
        investigate_together(drv)
        drv.complete("decide_measures", MEASURES, lane="principal")
        drv.advance(timedelta(weeks=4, hours=1))
        drv.complete(
            "follow_up_attendance",
            {"attendance_improved": "not_improved", "follow_up_notes": "Oförändrat"},
            lane="teacher",
        )
        drv.complete("decide_measures", MEASURES)
        drv.advance(timedelta(weeks=4, hours=1))
        drv.complete(
            "follow_up_attendance", {"attendance_improved": "improved", "follow_up_notes": "Närvaro 95 %"}
        )
        assert drv.trail == [
            ("teacher", "report_absence"),
            ("principal", "assess_absence"),
            *PARALLEL,
            ("principal", "decide_measures"),
            ("teacher", "follow_up_attendance"),
            ("principal", "decide_measures"),
            ("teacher", "follow_up_attendance"),
        ]
        assert drv.ended_at == ["end_attendance_improved"]
        assert drv.is_completed


def test_principal_finds_an_investigation_unnecessary() -> None:
    with ProcessDriver.from_folder("problematic_absence", START) as drv:
        drv.complete("report_absence", SIGNAL)
        drv.complete("assess_absence", assess("not_needed"))
        assert drv.trail == [("teacher", "report_absence"), ("principal", "assess_absence")]
        assert drv.ended_at == ["end_not_investigated"]
        assert drv.is_completed


def test_investigation_not_done_in_ten_working_days_is_flagged() -> None:
    with ProcessDriver.from_folder("problematic_absence", START) as drv:  # Monday 18 Aug 2025
        drv.complete("report_absence", SIGNAL)
        drv.complete("assess_absence", assess("investigate"))
        drv.advance(timedelta(days=14, hours=17))  # after the 10th working day (Mon 1 Sep)
        assert drv.ended_at == ["end_overdue_flagged"]
        investigate_together(drv)
        assert drv.ready() == [("principal", "decide_measures")]
