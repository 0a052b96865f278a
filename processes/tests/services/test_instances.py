import json
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent, Verb
from audit.services import audit_chain_verify
from common.errors import ApplicationError, Conflict
from organisation.tests.factories import PupilFactory, SchoolUnitFactory
from processes.models import ProcessInstance
from processes.services.instances import (
    CaseStart,
    instance_lock,
    process_instance_start,
    process_instances_start,
)
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


# --- several cases in one transaction -------------------------------------------------------------


def test_starting_several_cases_at_once_starts_each_as_a_single_start_would_and_the_chain_verifies(
    support_version, ekbacke, rut
):
    pupils = PupilFactory.create_batch(3, unit=ekbacke)
    stranger = PupilFactory(unit=SchoolUnitFactory())
    starts = [CaseStart(unit=ekbacke, pupil=p, subject=f"S-{i}") for i, p in enumerate(pupils)]
    starts.insert(1, CaseStart(unit=ekbacke, pupil=stranger))

    results = process_instances_start(version=support_version, starts=starts, initiator=rut)

    assert isinstance(results[1], ApplicationError) and results[1].code == "pupil_not_at_unit"
    cases = [results[0], *results[2:]]
    assert [c.pupil for c in cases] == pupils and [c.subject for c in cases] == ["S-0", "S-1", "S-2"]
    assert not ProcessInstance.objects.filter(pupil=stranger).exists(), "the refused one left nothing"
    for case in cases:
        case.refresh_from_db()
        assert (case.status, case.revision, case.initiator) == ("running", 1, rut)
        assert case.state["workflow"]["spec"] == {"ref": "special_support"}
        verbs = list(AuditEvent.objects.filter(instance_id=case.pk).values_list("verb", flat=True))
        assert verbs == [Verb.INSTANCE_STARTED, Verb.TASK_READY], "each case's events in order"
        task = UserTask.objects.get(instance=case)
        ready = AuditEvent.objects.get(instance_id=case.pk, verb=Verb.TASK_READY)
        assert ready.user_task_id == task.pk and ready.after == {"due_at": task.due_at.isoformat()}
    assert audit_chain_verify() is None


def test_starting_several_cases_costs_the_same_statements_for_two_as_for_six(support_version, ekbacke):
    def statements(n: int) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            process_instances_start(version=support_version, starts=[CaseStart(unit=ekbacke)] * n)
        words = [query["sql"].split() for query in queries]
        return [" ".join(w[:3]) if w[0] == "INSERT" else w[0] for w in words]

    statements(1)  # the bundle cache is warm from here on
    two, six = statements(2), statements(6)

    assert two == six, "the same statements, whatever the number of cases"
    inserts = [statement.split()[2] for statement in six if statement.startswith("INSERT")]
    assert inserts == ['"processes_processinstance"', '"tasks_usertask"', '"audit_auditevent"']
    assert ProcessInstance.objects.count() == 9


def test_a_database_error_rolls_back_every_case_of_the_call(support_version, ekbacke, alva, rut):
    from processes.models import BulkStart

    bulk = BulkStart.objects.create(version=support_version, unit=ekbacke, requested_by=rut, total=1)
    events = AuditEvent.objects.count()
    twice = [
        CaseStart(unit=ekbacke, pupil=alva),
        CaseStart(unit=ekbacke),
        CaseStart(unit=ekbacke, pupil=alva),
    ]

    with pytest.raises(IntegrityError), transaction.atomic():
        process_instances_start(version=support_version, starts=twice, bulk_start=bulk)

    assert not ProcessInstance.objects.exists() and not UserTask.objects.exists()
    assert AuditEvent.objects.count() == events


def test_an_engine_error_refuses_only_its_own_case(ekbacke):
    from processes.tests.factories import published_support_version
    from processes.tests.services.test_bulk_starts import NEEDS_A_GUARDIAN

    version = published_support_version(**NEEDS_A_GUARDIAN)
    with_guardian = CaseStart(unit=ekbacke, data={"guardians": [{"guardian_id": "1"}]})

    results = process_instances_start(
        version=version, starts=[with_guardian, CaseStart(unit=ekbacke), with_guardian]
    )

    assert [type(r).__name__ for r in results] == ["ProcessInstance", "ApplicationError", "ProcessInstance"]
    assert results[1].code == "engine_error" and results[1].extra["element_id"] == "check"
    assert ProcessInstance.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_locking_a_case_holds_up_neither_the_other_cases_of_its_version_nor_new_ones(
    support_version, ekbacke
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks")
    first, second = (process_instance_start(version=support_version, unit=ekbacke) for _ in range(2))
    other_worker: list[object] = []

    def step_the_other_case_and_start_a_new_one() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                instance_lock(second.pk)
                process_instance_start(version=support_version, unit=ekbacke)
            other_worker.append("done")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            other_worker.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        instance_lock(first.pk)
        worker = threading.Thread(target=step_the_other_case_and_start_a_new_one)
        worker.start()
        worker.join(timeout=30)

    assert other_worker == ["done"], "the other worker waited for a case it does not touch"


@pytest.mark.parametrize("legacy", [False, True])
def test_a_step_deletes_only_the_waiting_rows_the_case_had(support_version, ekbacke, alva, sara, legacy):
    from tasks.services.user_tasks import user_task_complete

    case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva, data={"case_id": "C-1"})
    assert case.wait_signature.endswith("--"), "at apply the case waits for no timer and no message"
    if legacy:  # written before the signature said what it covers: both are deleted, to be safe
        ProcessInstance.objects.filter(pk=case.pk).update(wait_signature="0" * 64)

    with CaptureQueriesContext(connection) as queries:
        user_task_complete(task_id=case.user_tasks.get().pk, user=sara, data={"needs": ["reading"]})

    deleted = [q["sql"].split('"')[1] for q in queries if q["sql"].startswith("DELETE")]
    assert deleted == (["processes_waitingtimer", "processes_messagesubscription"] if legacy else [])
    case.refresh_from_db()
    assert case.wait_signature.endswith("-m") and case.subscriptions.exists(), "now it waits for a message"
