"""Special support (3 kap. skollagen): a teacher's signal through to an evaluated action programme."""

from datetime import timedelta

from tests.bpmn.appeal_steps import let_appeal_window_pass
from tests.bpmn.harness import ProcessDriver

START = {"pupil_name": "Alva Lind", "pupil_personnummer": "20120304-1239", "school_unit": "Björkskolan"}
SIGNAL = {"subjects": "Matematik", "concern_description": "Klarar inte bråk", "signalled_on": "2025-08-20"}
ADAPT = {"adaptations_description": "Extra genomgång, bildstöd", "adaptations_started_on": "2025-08-21"}
INSUFFICIENT = {
    "adaptations_outcome": "insufficient",
    "evaluation_notes": "Ingen effekt",
    "evaluated_on": "2025-09-20",
}
REPORT = {"report_reason": "Extra anpassningar räcker inte", "reported_on": "2025-09-20"}
COMMISSION = {"investigation_assigned_to": "Specialpedagog Eva", "commissioned_on": "2025-09-21"}
INVESTIGATION = {
    "pedagogical_assessment": "Behov av särskilt stöd",
    "student_health_consulted": True,
    "support_needed": "yes",
    "investigation_completed_on": "2025-09-25",
}
NOTIFY = {
    "decision_notified_at": "2025-10-03",
    "notification_method": "e_service",
    "pupil_informed": True,
    "appeal_instructions_given": True,
}
BEFORE_DECISION = [
    ("teacher", "document_signal"),
    ("teacher", "plan_adaptations"),
    ("teacher", "evaluate_adaptations"),
    ("teacher", "report_to_principal"),
    ("principal", "commission_investigation"),
    ("student_health", "investigate_needs"),
    ("guardian", "guardian_participation"),
    ("pupil", "pupil_participation"),
    ("principal", "decide_action_programme"),
    ("principal", "notify_decision"),
]


def decision(kind: str) -> dict:
    return {
        "action_programme_decision": kind,
        "decision_reasoning": "Utredningen visar behov",
        "decision_date": "2025-10-02",
        "support_measures": "Särskild undervisningsgrupp i matematik",
    }


def notified_today(drv: ProcessDriver) -> dict:
    """The guardians get the decision today: the appeal window counts from this date."""
    return {**NOTIFY, "decision_notified_at": drv.now().date().isoformat()}


def through_decision(drv: ProcessDriver, kind: str) -> None:
    drv.complete("document_signal", SIGNAL, lane="teacher")
    drv.complete("plan_adaptations", ADAPT, lane="teacher")
    drv.complete("evaluate_adaptations", INSUFFICIENT, lane="teacher")
    drv.complete("report_to_principal", REPORT, lane="teacher")
    drv.complete("commission_investigation", COMMISSION, lane="principal")
    drv.complete("investigate_needs", INVESTIGATION, lane="student_health")
    assert drv.ready() == [("guardian", "guardian_participation"), ("pupil", "pupil_participation")]
    drv.complete(
        "guardian_participation", {"guardian_wants_meeting": True, "guardian_views": "Hemma går det bra"}
    )
    drv.complete("pupil_participation", {"pupil_views": "Jag vill ha lugn miljö"})
    drv.complete("decide_action_programme", decision(kind), lane="principal")
    drv.complete("notify_decision", notified_today(drv), lane="principal")


def test_adaptations_are_enough_after_one_adjustment() -> None:
    with ProcessDriver.from_folder("special_support", START) as drv:
        drv.complete("document_signal", SIGNAL, lane="teacher")
        drv.complete("plan_adaptations", ADAPT)
        drv.complete(
            "evaluate_adaptations",
            {
                "adaptations_outcome": "continue",
                "evaluation_notes": "Viss effekt",
                "evaluated_on": "2025-09-10",
            },
        )
        drv.complete("plan_adaptations", ADAPT)
        drv.complete(
            "evaluate_adaptations",
            {
                "adaptations_outcome": "sufficient",
                "evaluation_notes": "Når målen",
                "evaluated_on": "2025-10-10",
            },
        )
        assert drv.trail == [
            ("teacher", "document_signal"),
            ("teacher", "plan_adaptations"),
            ("teacher", "evaluate_adaptations"),
            ("teacher", "plan_adaptations"),
            ("teacher", "evaluate_adaptations"),
        ]
        assert drv.ended_at == ["end_adaptations_sufficient"]
        assert drv.is_completed


def test_action_programme_not_appealed_followed_up_two_terms_until_needs_met() -> None:
    with ProcessDriver.from_folder("special_support", START) as drv:
        through_decision(drv, "draw_up")
        assert drv.ready() == []  # the three-week appeal window runs
        let_appeal_window_pass(drv)
        assert drv.ready() == []  # waiting one term
        drv.advance(timedelta(days=125))
        drv.complete(
            "evaluate_action_programme",
            {
                "needs_met": "not_met",
                "programme_evaluation": "Delvis",
                "programme_evaluated_on": "2026-02-01",
            },
            lane="teacher",
        )
        assert drv.ready() == []
        drv.advance(timedelta(days=125))
        drv.complete(
            "evaluate_action_programme",
            {
                "needs_met": "met",
                "programme_evaluation": "Målen nådda",
                "programme_evaluated_on": "2026-06-01",
            },
            lane="teacher",
        )
        drv.complete(
            "close_action_programme",
            {"closure_reasoning": "Behoven tillgodosedda", "closed_on": "2026-06-02"},
            lane="principal",
        )
        assert drv.trail == BEFORE_DECISION + [
            ("teacher", "evaluate_action_programme"),
            ("teacher", "evaluate_action_programme"),
            ("principal", "close_action_programme"),
        ]
        assert drv.ended_at == ["end_needs_met"]
        assert drv.is_completed


def test_decision_not_to_draw_up_ends_after_the_appeal_window() -> None:
    with ProcessDriver.from_folder("special_support", START) as drv:
        through_decision(drv, "not_draw_up")
        let_appeal_window_pass(drv)
        assert drv.trail == BEFORE_DECISION
        assert drv.ended_at == ["end_no_action_programme"]
        assert drv.is_completed


def test_appeal_reconsidered_gives_a_new_decision() -> None:
    with ProcessDriver.from_folder("special_support", START) as drv:
        through_decision(drv, "not_draw_up")
        drv.advance(timedelta(days=10))
        drv.send_message("appeal_received", {})
        drv.complete(
            "principal_check_timeliness",
            {
                "appeal_received_on": "2025-10-13",
                "appellant": "guardians",
                "two_guardians_with_custody": True,
                "all_custodians_stand_behind": True,
                "appeal_in_time": True,
            },
            lane="principal",
        )
        drv.complete(
            "principal_reconsider",
            {"reconsideration_result": "changed_as_requested", "reconsideration_reason": "Nya uppgifter"},
            lane="principal",
        )
        assert drv.ready() == [("principal", "decide_action_programme")]
        drv.complete("decide_action_programme", decision("draw_up"))
        drv.complete("notify_decision", notified_today(drv))
        let_appeal_window_pass(drv)
        drv.advance(timedelta(days=125))
        drv.complete(
            "evaluate_action_programme",
            {"needs_met": "met", "programme_evaluation": "Bra", "programme_evaluated_on": "2026-03-01"},
        )
        drv.complete("close_action_programme", {"closure_reasoning": "Klart", "closed_on": "2026-03-02"})
        assert drv.trail == BEFORE_DECISION + [
            ("principal", "principal_check_timeliness"),
            ("principal", "principal_reconsider"),
            ("principal", "decide_action_programme"),
            ("principal", "notify_decision"),
            ("teacher", "evaluate_action_programme"),
            ("principal", "close_action_programme"),
        ]
        assert drv.ended_at == ["end_needs_met"]


def test_slow_investigation_gets_a_reminder_then_an_escalation_to_the_principal() -> None:
    with ProcessDriver.from_folder("special_support", START) as drv:  # Monday 18 Aug 2025
        drv.complete("document_signal", SIGNAL)
        drv.complete("plan_adaptations", ADAPT)
        drv.complete("evaluate_adaptations", INSUFFICIENT)
        drv.complete("report_to_principal", REPORT)
        drv.complete("commission_investigation", COMMISSION)
        drv.advance(timedelta(days=7, hours=17))  # after the 5th working day (Mon 25 Aug)
        assert drv.ended_at == ["end_reminder_sent"]
        assert drv.ready() == [("student_health", "investigate_needs")]
        drv.advance(timedelta(days=7))  # after the 10th working day (Mon 1 Sep)
        assert drv.ready() == [
            ("student_health", "investigate_needs"),
            ("principal", "follow_up_overdue_investigation"),
        ]
        drv.complete(
            "follow_up_overdue_investigation",
            {"delay_reason": "Sjukdom", "expected_completion_on": "2025-09-05"},
            lane="principal",
        )
        assert drv.ended_at == ["end_reminder_sent", "end_overdue_followed_up"]
        drv.complete("investigate_needs", INVESTIGATION)
        assert drv.trail[-3:] == [
            ("principal", "follow_up_overdue_investigation"),
            ("guardian", "guardian_participation"),
            ("pupil", "pupil_participation"),
        ]
