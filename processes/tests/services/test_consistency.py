"""After a crash or a load test an operator asks: is every case whole? Each scenario breaks one
record the way a lost or doubled step would, and the check must name it."""

import pytest
from django.core.management import call_command

from audit.models import AuditEvent, Verb
from audit.services import audit_events_record
from processes.models import BulkStart, ProcessInstance, WaitingTimer
from processes.services.consistency import consistency_check
from processes.services.instances import process_instance_start
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_complete

pytestmark = pytest.mark.django_db


@pytest.fixture
def case_waiting_for_the_decision(support_version, ekbacke, alva, sara):
    """The guardian applied; the principal's decision is open and its deadline timer waits."""
    case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    apply = case.user_tasks.get(element_id="apply")
    user_task_complete(task_id=apply.pk, user=sara, data={"needs": ["a", "b"]})
    return case


def test_cases_worked_through_the_platform_are_consistent(case_waiting_for_the_decision):
    report = consistency_check()

    assert report.ok, report.as_dict()
    assert report.instances == 1 and report.user_tasks == 2
    assert report.audit_events == AuditEvent.objects.count() > 0


def test_a_completion_recorded_twice_is_reported(case_waiting_for_the_decision):
    apply = case_waiting_for_the_decision.user_tasks.get(element_id="apply")
    audit_events_record(
        [{"verb": Verb.TASK_COMPLETED, "user_task_id": apply.pk, "instance_id": apply.instance_id}]
    )

    report = consistency_check()

    assert report.problem_counts == {"task_final_events": 1}
    assert report.problems[0].user_task_id == apply.pk


def test_an_open_task_lost_from_the_inbox_is_reported(case_waiting_for_the_decision):
    decide = case_waiting_for_the_decision.user_tasks.get(element_id="decide")
    decide.delete()

    report = consistency_check()

    assert report.problem_counts == {"open_tasks_differ_from_engine": 1, "event_for_missing_task": 1}


def test_a_timer_row_lost_is_reported(case_waiting_for_the_decision):
    WaitingTimer.objects.filter(instance=case_waiting_for_the_decision).delete()

    assert consistency_check().problem_counts == {"timers_differ_from_engine": 1}


def test_a_case_closed_behind_the_engines_back_is_reported(case_waiting_for_the_decision):
    ProcessInstance.objects.filter(pk=case_waiting_for_the_decision.pk).update(
        status=ProcessInstance.Status.COMPLETED
    )

    assert consistency_check().problem_counts == {
        "instance_completed_events": 1,
        "finished_case_still_waits": 1,
    }


def test_a_completed_task_whose_event_was_removed_breaks_the_chain_and_the_task_rule(
    case_waiting_for_the_decision,
):
    apply = case_waiting_for_the_decision.user_tasks.get(element_id="apply")
    AuditEvent.objects.filter(user_task_id=apply.pk, verb=Verb.TASK_COMPLETED).delete()

    report = consistency_check()

    assert report.problem_counts == {"audit_chain_broken": 1, "task_final_events": 1}


def test_a_bulk_start_that_counts_more_cases_than_it_made_is_reported(case_waiting_for_the_decision):
    bulk = BulkStart.objects.create(
        version=case_waiting_for_the_decision.version, requested_by=None, total=2, started_count=2
    )
    ProcessInstance.objects.filter(pk=case_waiting_for_the_decision.pk).update(bulk_start=bulk)

    assert consistency_check().problem_counts == {"bulk_start_count": 1}


def test_the_command_exits_non_zero_and_names_the_problem(case_waiting_for_the_decision, capsys):
    UserTask.objects.filter(element_id="decide").delete()

    with pytest.raises(SystemExit) as exit_:
        call_command("check_consistency")

    assert exit_.value.code == 1
    output = capsys.readouterr().out
    assert "open_tasks_differ_from_engine" in output and "NOT consistent" in output


def test_the_command_prints_json_and_exits_zero_when_consistent(case_waiting_for_the_decision, capsys):
    call_command("check_consistency", "--json")

    assert '"ok": true' in capsys.readouterr().out
