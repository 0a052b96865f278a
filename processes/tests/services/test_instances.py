import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from audit.models import AuditEvent, Verb
from common.errors import ApplicationError, Conflict
from organisation.tests.factories import PupilFactory, SchoolUnitFactory
from processes.models import ProcessInstance
from processes.services.instances import process_instance_start
from processes.services.versions import process_version_deploy
from processes.tests.factories import support_bundle_files
from tasks.models import UserTask

MONDAY = datetime(2026, 8, 17, 9, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
pytestmark = pytest.mark.django_db


def test_a_draft_version_cannot_start_cases(ekbacke):
    draft, _ = process_version_deploy(support_bundle_files())
    with pytest.raises(Conflict) as refused:
        process_instance_start(version=draft, unit=ekbacke)
    assert refused.value.code == "version_not_published"
    assert not ProcessInstance.objects.exists()


def test_a_pupil_of_another_unit_cannot_be_the_subject(support_version, ekbacke):
    stranger = PupilFactory(unit=SchoolUnitFactory())
    with pytest.raises(ApplicationError) as refused:
        process_instance_start(version=support_version, unit=ekbacke, pupil=stranger)
    assert refused.value.code == "pupil_not_at_unit"


def test_starting_a_case_gives_the_guardian_lane_its_first_task_at_the_case_unit(
    support_version, ekbacke, alva, rut
):
    with time_machine.travel(MONDAY, tick=False):
        case = process_instance_start(
            version=support_version, unit=ekbacke, pupil=alva, initiator=rut, data={"case_id": "C-1"}
        )

    task = case.user_tasks.get()
    assert (task.lane, task.element_id, task.unit, task.status) == ("guardian", "apply", ekbacke, "open")
    assert task.form_name == "apply.schema.json"
    assert task.ready_at == MONDAY
    assert task.due_at == MONDAY + timedelta(days=5), "no boundary timer: the version's default P5D"
    assert case.status == ProcessInstance.Status.RUNNING and case.revision == 1
    verbs = list(AuditEvent.objects.filter(instance_id=case.pk).values_list("verb", flat=True))
    assert verbs == [Verb.INSTANCE_STARTED, Verb.TASK_READY]


def test_the_saved_state_references_the_spec_instead_of_containing_it(support_version, ekbacke):
    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "C-1"})

    saved = json.dumps(case.state)
    assert case.state["workflow"]["spec"] == {"ref": "special_support"}
    assert "task_specs" not in saved and "Fatta beslut" not in saved, "no spec content in the state"
    assert len(saved) < len(support_version.spec) / 2
    assert case.state_version.startswith("skolflode-state/")


def test_an_instance_stays_pinned_to_its_version_when_a_new_one_is_published(support_version, ekbacke):
    from processes.services.versions import process_version_publish

    case = process_instance_start(version=support_version, unit=ekbacke)
    newer, _ = process_version_deploy(support_bundle_files(**{'"P5D"': '"P10D"'}))
    process_version_publish(newer)

    case.refresh_from_db()
    assert case.version_id == support_version.pk
    assert UserTask.objects.get(instance=case).instance.version.number == 1
