"""Offensive treatment (6 kap. 10 § skollagen): report, report to the huvudman, investigation, measures."""

from datetime import timedelta

from tests.bpmn.harness import ProcessDriver

START = {"pupil_name": "Nils Berg", "pupil_personnummer": "20150515-4565", "school_unit": "Björkskolan"}
STAFF_REPORT = {
    "incident_category": "offensive_treatment",
    "incident_date": "2025-08-18",
    "incident_description": "Utfrysning på rasten",
    "staff_member_involved": False,
}
PRINCIPAL_REPORT = {"initial_assessment": "Allvarligt", "reported_to_governing_body_on": "2025-08-18"}
MEASURES = {
    "measures_description": "Samtal med berörda elever, ökad rastvakt",
    "measures_decided_on": "2025-08-22",
}
CLOSE = {"closing_summary": "Kränkningarna har upphört", "closed_on": "2025-09-30"}


def investigation(result: str) -> dict:
    return {
        "investigation_summary": "Intervjuer genomförda",
        "offence_confirmed": result,
        "investigated_on": "2025-08-21",
    }


def follow_up(result: str) -> dict:
    return {
        "treatment_stopped": result,
        "follow_up_notes": "Samtal med eleven",
        "followed_up_on": "2025-09-05",
    }


def test_confirmed_offence_needs_a_second_round_of_measures_before_closing() -> None:
    with ProcessDriver.from_folder("offensive_treatment", START) as drv:
        drv.complete("report_to_principal", STAFF_REPORT, lane="teacher")
        drv.complete("report_to_governing_body", PRINCIPAL_REPORT, lane="principal")
        drv.complete("investigate", investigation("confirmed"), lane="governing_body")
        drv.complete("take_measures", MEASURES, lane="principal")
        assert drv.ready() == []  # two weeks before the follow-up
        drv.advance(timedelta(weeks=2, hours=1))
        drv.complete("follow_up", follow_up("continues"), lane="principal")
        drv.complete("take_measures", MEASURES)
        drv.advance(timedelta(weeks=2, hours=1))
        drv.complete("follow_up", follow_up("stopped"))
        drv.complete("close_case", CLOSE, lane="governing_body")
        assert drv.trail == [
            ("teacher", "report_to_principal"),
            ("principal", "report_to_governing_body"),
            ("governing_body", "investigate"),
            ("principal", "take_measures"),
            ("principal", "follow_up"),
            ("principal", "take_measures"),
            ("principal", "follow_up"),
            ("governing_body", "close_case"),
        ]
        assert drv.ended_at == ["end_case_closed"]
        assert drv.is_completed


def test_late_report_to_the_huvudman_is_flagged_and_unconfirmed_case_is_closed() -> None:
    with ProcessDriver.from_folder("offensive_treatment", START) as drv:  # Monday 08:00
        drv.complete("report_to_principal", STAFF_REPORT)
        drv.advance(timedelta(days=1, hours=12))  # Tuesday 20:00: still within the next working day
        assert drv.ended_at == []
        drv.advance(timedelta(hours=5))  # past the end of Tuesday
        assert drv.ended_at == ["end_report_late_flagged"]
        drv.complete("report_to_governing_body", PRINCIPAL_REPORT)
        drv.complete("investigate", investigation("not_confirmed"))
        drv.complete("close_case", CLOSE)
        assert drv.trail == [
            ("teacher", "report_to_principal"),
            ("principal", "report_to_governing_body"),
            ("governing_body", "investigate"),
            ("governing_body", "close_case"),
        ]
        assert sorted(drv.ended_at) == ["end_case_closed", "end_report_late_flagged"]  # same frozen instant
        assert drv.is_completed
