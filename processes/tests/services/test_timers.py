"""The principal does not decide in time: the boundary timer fires in the timer pass, which only
touches due timers and fires each exactly once."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent, Verb
from common.errors import ApplicationError
from processes.models import ProcessInstance, WaitingTimer
from processes.services.instances import process_instance_start, timers_fire_due
from processes.tests.factories import published_support_version
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_complete

MONDAY = datetime(2026, 8, 17, 9, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
pytestmark = pytest.mark.django_db


def waiting_for_decision(version, unit, pupil, guardian):
    case = process_instance_start(version=version, unit=unit, pupil=pupil)
    apply = case.user_tasks.get(element_id="apply")
    user_task_complete(task_id=apply.pk, user=guardian, data={"needs": ["a", "b"]})
    return case


def test_the_decision_deadline_fires_after_five_days_and_cancels_the_open_task(
    support_version, ekbacke, alva, sara
):
    with time_machine.travel(MONDAY, tick=False) as clock:
        case = waiting_for_decision(support_version, ekbacke, alva, sara)
        timer = case.timers.get()
        assert timer.due_at == MONDAY + timedelta(days=5)

        clock.move_to(MONDAY + timedelta(days=4, hours=23))
        assert timers_fire_due() == 0, "not due yet"

        clock.move_to(MONDAY + timedelta(days=5, minutes=1))
        assert timers_fire_due() == 1
        assert timers_fire_due() == 0, "a second pass finds nothing left to fire"

    case.refresh_from_db()
    assert case.status == ProcessInstance.Status.COMPLETED and case.end_events == ["end_escalated"]
    assert case.user_tasks.get(element_id="decide").status == UserTask.Status.CANCELLED
    assert not WaitingTimer.objects.filter(instance=case).exists()
    assert AuditEvent.objects.filter(instance_id=case.pk, verb=Verb.TIMER_FIRED).count() == 1


def test_a_timer_pass_costs_the_same_whatever_the_number_of_instances_not_yet_due(
    support_version, ekbacke, alva, sara
):
    def queries_for_one_due_timer(waiting_not_due: int) -> int:
        with time_machine.travel(MONDAY, tick=False) as clock:
            due = waiting_for_decision(support_version, ekbacke, alva, sara)
            clock.shift(timedelta(days=3))
            for _ in range(waiting_not_due):
                waiting_for_decision(support_version, ekbacke, alva, sara)
            clock.move_to(MONDAY + timedelta(days=5, minutes=1))
            with CaptureQueriesContext(connection) as queries:
                assert timers_fire_due() == 1
        due.refresh_from_db()
        assert due.status == ProcessInstance.Status.COMPLETED
        WaitingTimer.objects.all().delete()
        return len(queries)

    assert queries_for_one_due_timer(2) == queries_for_one_due_timer(20)


def test_a_timer_expression_that_fails_at_run_time_stops_the_case_and_keeps_the_task_open(
    ekbacke, alva, sara, rut
):
    # The appeal window reads a variable the model never sets; only running it shows that.
    version = published_support_version(
        **{'"P3W"</bpmn:timeDuration>': "appeal_window_length</bpmn:timeDuration>"}
    )
    case = waiting_for_decision(version, ekbacke, alva, sara)
    decide = case.user_tasks.get(element_id="decide")

    with pytest.raises(ApplicationError) as failed:
        user_task_complete(task_id=decide.pk, user=rut, data={"decision": "approved"})

    case.refresh_from_db()
    assert failed.value.code == "engine_error"
    assert case.status == ProcessInstance.Status.ERROR and case.error_element_id == "appeal_window"
    assert case.user_tasks.get(element_id="decide").status == UserTask.Status.OPEN
