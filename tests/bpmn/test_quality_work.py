"""Systematic quality work (4 kap. skollagen): one annual cycle with calendar-date timers."""

from datetime import datetime, timedelta

from tests.bpmn.harness import STOCKHOLM, ProcessDriver

START_AT = datetime(2026, 6, 1, 8, 0, tzinfo=STOCKHOLM)
START = {
    "school_unit": "Björkskolan",
    "results_available_at": "2026-06-15T08:00:00+02:00",
    "unit_analysis_due_at": "2026-08-31T16:00:00+02:00",
    "report_due_at": "2026-09-30T16:00:00+02:00",
    "follow_up_at": "2027-06-15T08:00:00+02:00",
}
ANALYSIS = {
    "results_summary": "Meritvärde 231",
    "results_analysis": "Läsförståelse svag i åk 7",
    "development_areas": "Läsförståelse",
}
REPORT = {
    "report_summary": "Se bilaga",
    "proposed_priorities": "Läsförståelse",
    "report_submitted_on": "2026-09-20",
}
PLAN = {"action_plan_measures": "Läslyft", "action_plan_owner": "Rektor", "action_plan_due_on": "2027-06-01"}
FOLLOW_UP = {"action_plan_outcome": "partly_achieved", "follow_up_summary": "Fortsätt läslyftet"}


def priorities(verdict: str) -> dict:
    return {
        "report_complete": verdict,
        "governing_body_analysis": "Likvärdighet",
        "priorities": "Läsförståelse",
    }


def test_cycle_with_completion_request_and_next_year_follow_up() -> None:
    with ProcessDriver.from_folder("quality_work", START, start_at=START_AT) as drv:
        assert drv.ready() == []
        drv.advance(timedelta(days=14, hours=1))  # 15 June: results available
        drv.complete("analyse_unit_results", ANALYSIS, lane="teacher")
        drv.complete("write_quality_report", REPORT, lane="principal")
        drv.complete("analyse_and_prioritise", priorities("needs_completion"), lane="governing_body")
        drv.complete("write_quality_report", REPORT)
        drv.complete("analyse_and_prioritise", priorities("accepted"))
        drv.complete("draw_up_action_plan", PLAN, lane="principal")
        drv.advance(timedelta(days=365))
        drv.complete("follow_up_action_plan", FOLLOW_UP, lane="governing_body")
        assert drv.trail == [
            ("teacher", "analyse_unit_results"),
            ("principal", "write_quality_report"),
            ("governing_body", "analyse_and_prioritise"),
            ("principal", "write_quality_report"),
            ("governing_body", "analyse_and_prioritise"),
            ("principal", "draw_up_action_plan"),
            ("governing_body", "follow_up_action_plan"),
        ]
        assert drv.ended_at == ["end_cycle_closed"]
        assert drv.is_completed


def test_late_analysis_and_late_report_get_reminders() -> None:
    with ProcessDriver.from_folder("quality_work", START, start_at=START_AT) as drv:
        drv.advance(timedelta(days=14, hours=1))
        drv.advance(timedelta(days=80))  # 3 September: the unit analysis is overdue
        assert drv.ended_at == ["end_unit_analysis_reminder"]
        drv.complete("analyse_unit_results", ANALYSIS)
        drv.advance(timedelta(days=30))  # 3 October: the report is overdue
        assert drv.ended_at == ["end_unit_analysis_reminder", "end_report_reminder"]
        drv.complete("write_quality_report", REPORT)
        assert drv.ready() == [("governing_body", "analyse_and_prioritise")]
