"""The operator's commands: deploy a bpmn/ folder, start cases, fire due timers, show a case."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from organisation.services.demo import demo_data_load
from processes.models import ProcessInstance, ProcessVersion
from processes.services.demo import demo_cases_load

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_deploying_a_library_folder_twice_reports_the_same_version():
    first = run("deploy_process", "special_support", "--publish", "--changelog", "Första")
    second = run("deploy_process", "special_support")

    assert "special_support: v1 published (new," in first
    assert "special_support: v1 published (unchanged," in second
    assert ProcessVersion.objects.filter(definition__key="special_support").count() == 1


def test_deploying_a_folder_without_a_manifest_fails_clearly(tmp_path):
    with pytest.raises(CommandError, match="no process.json"):
        run("deploy_process", str(tmp_path))


def test_start_fire_and_show_a_case_from_the_command_line():
    demo_data_load()
    run("deploy_process", "offensive_treatment", "--publish")

    started = run("start_instance", "offensive_treatment", "--unit", "90000002", "--user", "larare.ekbacke")
    case_id = started.split()[0]
    shown = run("show_instance", case_id, "--data")

    case = ProcessInstance.objects.get(pk=case_id)
    assert case.initiator.username == "larare.ekbacke"
    assert "report_to_principal (teacher) open" in shown and "state " in shown
    with time_machine.travel(timezone.now() + timedelta(days=400)):
        assert "timer(s) fired" in run("fire_due_timers")


def test_starting_an_unpublished_process_fails_with_the_reason():
    demo_data_load()
    with pytest.raises(CommandError, match="ingen publicerad version"):
        run("start_instance", "transfer", "--unit", "90000002")


def test_showing_an_unknown_case_fails_clearly():
    with pytest.raises(CommandError, match="No case"):
        run("show_instance", "not-a-uuid")


def test_demo_cases_load_once():
    demo_data_load()
    first = demo_cases_load()
    again = demo_cases_load()

    assert first.versions_deployed == 9 and first.cases_started > 0
    assert (again.versions_deployed, again.cases_started) == (0, 0)
    assert ProcessInstance.objects.filter(subject__startswith="DEMO-").count() == first.cases_started
