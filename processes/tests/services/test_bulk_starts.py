"""Bulk starts (one case per pupil, as a resumable job) and starting one case from the UI."""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent, Verb
from audit.services import audit_chain_verify
from common.errors import ApplicationError, Conflict, PermissionDenied
from organisation.models import Role
from organisation.tests.factories import (
    CustodyFactory,
    MembershipFactory,
    PupilFactory,
    SchoolUnitFactory,
    UserFactory,
)
from processes.models import BulkStart, ProcessInstance
from processes.selectors import bulk_start_progress, startable_processes_for_user
from processes.services.bulk_starts import (
    bulk_start_request,
    bulk_start_resume,
    bulk_start_run,
    case_start_for_pupil,
    pupil_start_data,
)
from processes.services.instances import process_instance_start
from processes.services.versions import (
    bundle_files_from_folder,
    process_version_deploy,
    process_version_publish,
)
from processes.tests.factories import published_support_version, support_bundle_files
from tasks.models import UserTask

pytestmark = pytest.mark.django_db

# The support fixture with a first script step that needs a guardian: a pupil without one fails to start.
NEEDS_A_GUARDIAN = {
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="apply" />': (
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />'
        '<bpmn:scriptTask id="check" name="Kontrollera"><bpmn:script>first = guardians[0]</bpmn:script>'
        '</bpmn:scriptTask><bpmn:sequenceFlow id="f0" sourceRef="check" targetRef="apply" />'
    ),
    "<bpmn:flowNodeRef>apply</bpmn:flowNodeRef>": (
        "<bpmn:flowNodeRef>check</bpmn:flowNodeRef><bpmn:flowNodeRef>apply</bpmn:flowNodeRef>"
    ),
}


@pytest.fixture
def school_start(db):
    version, _ = process_version_deploy(
        bundle_files_from_folder(Path(settings.BASE_DIR) / "bpmn" / "school_start")
    )
    return process_version_publish(version)


@pytest.fixture
def ekbacke_pupils(ekbacke):
    """Three pupils: two with two guardians with custody, one with a guardian and a parent without."""
    pupils = [PupilFactory(unit=ekbacke, first_name=name) for name in ("Bo", "Cilla", "Dan")]
    for pupil in pupils[:2]:
        CustodyFactory.create_batch(2, pupil=pupil)
    CustodyFactory(pupil=pupils[2])
    CustodyFactory(pupil=pupils[2], has_custody=False)
    return pupils


@pytest.fixture
def maja(ekbacke):
    """School administrator at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="maja"), unit=ekbacke, role=Role.SCHOOL_ADMIN).user


@pytest.fixture
def gunnar(db):
    """On the governing body (the education committee), a member at its own unit."""
    return MembershipFactory(user=UserFactory(username="gunnar"), role=Role.GOVERNING_BODY).user


@pytest.fixture
def tove(ekbacke):
    """Teacher at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="tove"), unit=ekbacke, role=Role.TEACHER).user


def requested(version, unit, user, django_capture_on_commit_callbacks, *, run=True) -> BulkStart:
    """Request a bulk start; with `run` the queued job runs (eagerly) once the request commits."""
    with django_capture_on_commit_callbacks(execute=run):
        bulk = bulk_start_request(version=version, unit=unit, requested_by=user)
    bulk.refresh_from_db()
    return bulk


def test_a_unit_bulk_start_starts_one_case_per_pupil_with_a_task_for_each_guardian(
    school_start, ekbacke, ekbacke_pupils, maja, django_capture_on_commit_callbacks
):
    other_unit_pupil = PupilFactory(unit=SchoolUnitFactory())

    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks)

    assert (bulk.status, bulk.total, bulk.started_count, bulk.failed_count) == ("completed", 3, 3, 0)
    assert bulk.finished_at is not None
    cases = ProcessInstance.objects.filter(bulk_start=bulk)
    assert sorted(cases.values_list("pupil_id", flat=True)) == [p.pk for p in ekbacke_pupils]
    assert not ProcessInstance.objects.filter(pupil=other_unit_pupil).exists()
    assert set(cases.values_list("subject", "initiator", "version")) == {
        (f"bulk-{bulk.pk}", maja.pk, school_start.pk)
    }
    for pupil in ekbacke_pupils:
        tasks = UserTask.objects.filter(instance__bulk_start=bulk, instance__pupil=pupil)
        with_custody = set(pupil.custodies.filter(has_custody=True).values_list("guardian_id", flat=True))
        assert {(t.lane, t.element_id) for t in tasks} == {("guardian", "confirm_details_and_consents")}
        assert sorted(t.guardian_id for t in tasks) == sorted(with_custody), "one bound task per guardian"
    event = AuditEvent.objects.get(verb=Verb.BULK_START_REQUESTED)
    assert (event.actor, event.unit_id, event.version_id) == (maja, ekbacke.pk, school_start.pk)
    assert event.after["bulk_start"] == bulk.pk and event.after["total"] == 3


def test_the_start_data_has_the_pupil_and_each_guardian_with_custody(ekbacke_pupils):
    dan = ekbacke_pupils[2]
    guardian = dan.custodies.get(has_custody=True).guardian

    assert pupil_start_data(dan) == {
        "pupil_name": dan.full_name,
        "pupil_personnummer": f"{dan.personnummer[:8]}-{dan.personnummer[8:]}",
        "school_unit": dan.unit.name,
        "guardians": [
            {
                "guardian_id": str(guardian.pk),
                "name": guardian.full_name,
                "personnummer": f"{guardian.personnummer[:8]}-{guardian.personnummer[8:]}",
                "email": guardian.email,
                "phone": guardian.phone,
            }
        ],
    }


def test_running_a_completed_bulk_start_again_starts_nothing(
    school_start, ekbacke, ekbacke_pupils, maja, django_capture_on_commit_callbacks
):
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks)
    started = AuditEvent.objects.filter(verb=Verb.INSTANCE_STARTED).count()

    again = bulk_start_run(bulk.pk)

    assert (again.status, again.started_count) == ("completed", 3)
    assert ProcessInstance.objects.filter(bulk_start=bulk).count() == 3
    assert AuditEvent.objects.filter(verb=Verb.INSTANCE_STARTED).count() == started
    with pytest.raises(Conflict) as refused:
        bulk_start_resume(bulk.pk, maja)
    assert refused.value.code == "bulk_start_completed"


def test_an_interrupted_bulk_start_resumes_with_the_pupils_still_missing(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    pupils = PupilFactory.create_batch(7, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    assert bulk.status == "pending" and bulk.total == 7
    # What an interrupted run left behind: the first three pupils' cases.
    first = [
        process_instance_start(
            version=school_start,
            unit=ekbacke,
            pupil=p,
            bulk_start=bulk,
            subject="x",
            data=pupil_start_data(p),
        )
        for p in pupils[:3]
    ]

    resumed = bulk_start_run(bulk.pk, batch_size=2)

    assert (resumed.status, resumed.started_count, resumed.failed_count) == ("completed", 7, 0)
    cases = ProcessInstance.objects.filter(bulk_start=bulk)
    assert sorted(cases.values_list("pupil_id", flat=True)) == [p.pk for p in pupils], "one case per pupil"
    assert set(cases.filter(subject="x")) == set(first), "the cases started before were left alone"
    assert cases.filter(subject=f"bulk-{bulk.pk}").count() == 4


def test_a_second_case_for_the_same_pupil_and_bulk_start_is_refused_by_the_database(
    school_start, ekbacke, alva, maja, django_capture_on_commit_callbacks
):
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks)
    with pytest.raises(IntegrityError), transaction.atomic():
        process_instance_start(
            version=school_start, unit=ekbacke, pupil=alva, bulk_start=bulk, data=pupil_start_data(alva)
        )
    assert ProcessInstance.objects.filter(bulk_start=bulk, pupil=alva).count() == 1


def test_a_running_bulk_start_is_left_to_its_worker_until_it_goes_stale(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    PupilFactory.create_batch(3, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    BulkStart.objects.filter(pk=bulk.pk).update(status=BulkStart.Status.RUNNING, updated_at=timezone.now())

    redelivered = bulk_start_run(bulk.pk)
    assert redelivered.status == "running" and not ProcessInstance.objects.exists(), "another worker has it"
    assert not bulk_start_progress(bulk.pk)["resumable"]

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert bulk_start_progress(bulk.pk)["stalled"]
        taken_over = bulk_start_run(bulk.pk)
    assert (taken_over.status, taken_over.started_count) == ("completed", 3)


def test_the_jobs_retry_after_a_lost_connection_takes_its_own_fresh_lease_back(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    """The run that lost its connection left the lease stamped a moment ago; the first delivery of a
    job must leave such a lease alone, the retry of the same job must not wait ten minutes for it."""
    from processes.jobs import bulk_start_run_job

    PupilFactory.create_batch(2, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    BulkStart.objects.filter(pk=bulk.pk).update(status=BulkStart.Status.RUNNING, updated_at=timezone.now())

    first_delivery = bulk_start_run_job.apply(args=(bulk.pk,)).get()
    retried = bulk_start_run_job.apply(args=(bulk.pk,), retries=1).get()

    assert first_delivery == "running" and retried == "completed"
    assert ProcessInstance.objects.filter(bulk_start=bulk).count() == 2


def test_resuming_explicitly_takes_a_running_bulk_start_over_at_once(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    PupilFactory.create_batch(2, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    BulkStart.objects.filter(pk=bulk.pk).update(status=BulkStart.Status.RUNNING, updated_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        bulk_start_resume(bulk.pk, maja)

    bulk.refresh_from_db()
    assert (bulk.status, bulk.started_count) == ("completed", 2)
    resumes = AuditEvent.objects.filter(verb=Verb.BULK_START_REQUESTED, after__resumed=True)
    assert resumes.get().actor == maja


def test_a_pupil_whose_case_cannot_start_is_counted_and_the_others_still_start(
    ekbacke, maja, django_capture_on_commit_callbacks
):
    version = published_support_version(**NEEDS_A_GUARDIAN)
    with_guardians = PupilFactory.create_batch(2, unit=ekbacke)
    for pupil in with_guardians:
        CustodyFactory(pupil=pupil)
    orphan = PupilFactory(unit=ekbacke)

    bulk = requested(version, ekbacke, maja, django_capture_on_commit_callbacks)

    assert (bulk.status, bulk.total, bulk.started_count, bulk.failed_count) == ("completed", 3, 2, 1)
    assert bulk.last_error.startswith(f"{orphan.pk}: ")
    assert not ProcessInstance.objects.filter(pupil=orphan).exists()
    assert bulk_start_progress(bulk.pk) | {"status_label": ""} == {
        "id": bulk.pk,
        "status": "completed",
        "status_label": "",
        "total": 3,
        "started": 2,
        "failed": 1,
        "remaining": 0,
        "percent": 67,
        "last_error": bulk.last_error,
        "finished": True,
        "stalled": False,
        "resumable": False,
    }


def test_a_bulk_start_where_nothing_could_start_fails_and_can_be_resumed(
    ekbacke, maja, django_capture_on_commit_callbacks
):
    version = published_support_version(**NEEDS_A_GUARDIAN)
    orphan = PupilFactory(unit=ekbacke)

    bulk = requested(version, ekbacke, maja, django_capture_on_commit_callbacks)
    assert (bulk.status, bulk.started_count, bulk.failed_count) == ("failed", 0, 1)
    assert bulk_start_progress(bulk.pk)["resumable"]
    assert bulk_start_run(bulk.pk).status == "failed", "only an explicit resume runs a failed one again"

    CustodyFactory(pupil=orphan)  # the registry is fixed
    with django_capture_on_commit_callbacks(execute=True):
        bulk_start_resume(bulk.pk, maja)
    bulk.refresh_from_db()
    assert (bulk.status, bulk.started_count, bulk.failed_count, bulk.last_error) == ("completed", 1, 0, "")


def test_progress_while_it_runs(school_start, ekbacke, maja, django_capture_on_commit_callbacks):
    pupils = PupilFactory.create_batch(4, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    process_instance_start(
        version=school_start, unit=ekbacke, pupil=pupils[0], bulk_start=bulk, data=pupil_start_data(pupils[0])
    )
    BulkStart.objects.filter(pk=bulk.pk).update(status=BulkStart.Status.RUNNING, started_count=1)

    progress = bulk_start_progress(bulk.pk)

    assert {k: progress[k] for k in ("status", "total", "started", "failed", "remaining", "percent")} == {
        "status": "running",
        "total": 4,
        "started": 1,
        "failed": 0,
        "remaining": 3,
        "percent": 25,
    }
    assert not progress["finished"] and not progress["resumable"]


# --- who may start --------------------------------------------------------------------------------


def test_a_teacher_may_not_bulk_start(school_start, ekbacke, tove):
    with pytest.raises(PermissionDenied) as refused:
        bulk_start_request(version=school_start, unit=ekbacke, requested_by=tove)
    assert refused.value.code == "bulk_start_not_allowed"
    assert not BulkStart.objects.exists()


def test_a_school_admin_or_principal_may_bulk_start_for_their_own_unit_only(
    school_start, ekbacke, maja, rut, django_capture_on_commit_callbacks
):
    other = SchoolUnitFactory()
    for user in (maja, rut):
        for unit in (other, None):
            with pytest.raises(PermissionDenied):
                bulk_start_request(version=school_start, unit=unit, requested_by=user)
    assert requested(school_start, ekbacke, rut, django_capture_on_commit_callbacks).status == "completed"


def test_the_governing_body_may_bulk_start_for_the_whole_municipality(
    school_start, ekbacke, ekbacke_pupils, gunnar, django_capture_on_commit_callbacks
):
    elsewhere = PupilFactory(unit=SchoolUnitFactory())
    everyone = [*ekbacke_pupils, elsewhere]

    bulk = requested(school_start, None, gunnar, django_capture_on_commit_callbacks)

    assert (bulk.unit, bulk.status, bulk.total, bulk.started_count) == (None, "completed", 4, 4)
    cases = ProcessInstance.objects.filter(bulk_start=bulk)
    assert sorted(cases.values_list("pupil_id", flat=True)) == sorted(p.pk for p in everyone)
    assert cases.get(pupil=elsewhere).unit == elsewhere.unit, "each case at its pupil's unit"
    assert AuditEvent.objects.get(verb=Verb.BULK_START_REQUESTED).after["scope"] == "municipality"
    assert requested(school_start, ekbacke, gunnar, django_capture_on_commit_callbacks).total == 3, (
        "or one unit"
    )


def test_a_draft_version_cannot_be_bulk_started(ekbacke, maja):
    draft, _ = process_version_deploy(support_bundle_files())
    with pytest.raises(Conflict) as refused:
        bulk_start_request(version=draft, unit=ekbacke, requested_by=maja)
    assert refused.value.code == "version_not_published"


def test_a_double_submit_does_not_queue_a_second_bulk_start(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    with pytest.raises(Conflict) as refused:
        bulk_start_request(version=school_start, unit=ekbacke, requested_by=maja)
    assert refused.value.code == "bulk_start_in_progress"
    assert BulkStart.objects.count() == 1


def test_resuming_needs_the_same_right_as_requesting(
    school_start, ekbacke, maja, olle, tove, django_capture_on_commit_callbacks
):
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    for outsider in (olle, tove):
        with pytest.raises(PermissionDenied):
            bulk_start_resume(bulk.pk, outsider)


# --- one case from the UI ---------------------------------------------------------------------------


def test_staff_at_the_pupils_unit_start_a_case_on_the_current_version(
    school_start, ekbacke, alva, sara, tove
):
    case = case_start_for_pupil(user=tove, key="school_start", pupil=alva)

    assert (case.version, case.unit, case.pupil, case.initiator, case.bulk_start) == (
        school_start,
        ekbacke,
        alva,
        tove,
        None,
    )
    task = case.user_tasks.get()
    assert task.guardian.user == sara


def test_staff_of_another_unit_or_a_guardian_cannot_start_a_case_for_the_pupil(
    school_start, alva, olle, sara
):
    for user in (olle, sara):
        with pytest.raises(PermissionDenied) as refused:
            case_start_for_pupil(user=user, key="school_start", pupil=alva)
        assert refused.value.code == "case_start_not_allowed"
    assert not ProcessInstance.objects.exists()


def test_a_process_without_a_published_version_cannot_be_started(alva, tove):
    with pytest.raises(ApplicationError) as refused:
        case_start_for_pupil(user=tove, key="school_start", pupil=alva)
    assert refused.value.code == "no_published_version"


def test_startable_processes_are_the_current_published_versions_for_staff_at_the_unit(
    school_start, support_version, ekbacke, tove, olle, sara
):
    newest_published = published_support_version(**NEEDS_A_GUARDIAN)
    draft, _ = process_version_deploy(support_bundle_files(**{"Fyll i ansökan": "Fyll i ansökan (ny)"}))
    assert draft.number > newest_published.number > support_version.number

    assert set(startable_processes_for_user(tove, ekbacke)) == {school_start, newest_published}
    assert set(startable_processes_for_user(tove)) == {school_start, newest_published}, "at any of my units"
    assert not startable_processes_for_user(olle, ekbacke).exists()
    assert not startable_processes_for_user(sara, ekbacke).exists()


@pytest.mark.parametrize("pupils", [4, 12])
def test_resuming_skips_started_pupils_with_one_query_per_batch_not_per_pupil(
    pupils, school_start, ekbacke, maja, django_capture_on_commit_callbacks, django_assert_num_queries
):
    for pupil in PupilFactory.create_batch(pupils, unit=ekbacke):
        CustodyFactory(pupil=pupil)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks)
    BulkStart.objects.filter(pk=bulk.pk).update(status=BulkStart.Status.PENDING)

    # Load, claim (count + update), one batch (pupils, the started set, progress count + update), the
    # empty next batch, the end (count + update) and the reload: the same for 4 pupils or 12.
    with django_assert_num_queries(11):
        resumed = bulk_start_run(bulk.pk)
    assert (resumed.status, resumed.started_count) == ("completed", pupils)


def test_a_run_whose_lease_was_taken_over_stops_writing_progress(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    from processes.services.bulk_starts import _claim, _progress_save

    PupilFactory.create_batch(2, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    lease = timezone.now()
    assert _claim(bulk, lease) and not _claim(bulk, timezone.now()), "one worker at a time"
    lease, held = _progress_save(bulk, lease, failed=0, last_error="")
    assert held

    bulk_start_resume(bulk.pk, maja)  # queued again (not run: its job waits for the commit)

    _lease, held = _progress_save(bulk, lease, failed=5, last_error="stale run")
    assert not held, "the first run must stop: its next write changes nothing"
    bulk.refresh_from_db()
    assert (bulk.status, bulk.failed_count, bulk.last_error) == ("pending", 0, "")


# --- chunks: many cases to a transaction ----------------------------------------------------------


def test_a_chunked_bulk_start_gives_each_pupil_one_case_and_the_audit_chain_verifies(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    pupils = PupilFactory.create_batch(7, unit=ekbacke)
    for pupil in pupils:
        CustodyFactory.create_batch(2, pupil=pupil)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)

    done = bulk_start_run(bulk.pk, batch_size=4, chunk_size=3)

    assert (done.status, done.started_count, done.failed_count) == ("completed", 7, 0)
    cases = ProcessInstance.objects.filter(bulk_start=bulk)
    assert sorted(cases.values_list("pupil_id", flat=True)) == [p.pk for p in pupils]
    for case in cases:
        verbs = list(AuditEvent.objects.filter(instance_id=case.pk).values_list("verb", flat=True))
        assert verbs == [Verb.INSTANCE_STARTED, Verb.TASK_READY, Verb.TASK_READY]
        tasks = case.user_tasks.all()
        assert sorted(t.guardian_id for t in tasks) == sorted(
            case.pupil.custodies.values_list("guardian_id", flat=True)
        )
    assert audit_chain_verify() is None


def test_a_pupil_who_cannot_start_fails_alone_in_a_chunk(ekbacke, maja, django_capture_on_commit_callbacks):
    version = published_support_version(**NEEDS_A_GUARDIAN)
    pupils = PupilFactory.create_batch(5, unit=ekbacke)
    for pupil in pupils[:2] + pupils[3:]:
        CustodyFactory(pupil=pupil)
    bulk = requested(version, ekbacke, maja, django_capture_on_commit_callbacks, run=False)

    done = bulk_start_run(bulk.pk, chunk_size=5)

    assert (done.status, done.started_count, done.failed_count) == ("completed", 4, 1)
    assert done.last_error.startswith(f"{pupils[2].pk}: ")
    started = set(ProcessInstance.objects.filter(bulk_start=bulk).values_list("pupil_id", flat=True))
    assert started == {p.pk for p in pupils} - {pupils[2].pk}
    assert audit_chain_verify() is None


def test_a_chunk_the_database_refuses_is_started_case_by_case(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks, monkeypatch
):
    """Another worker starts one of the chunk's pupils after the run looked: the chunk's insert hits
    the unique constraint, rolls back whole, and its pupils start one by one, that one skipped."""
    from processes.services import bulk_starts

    pupils = PupilFactory.create_batch(4, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    elsewhere = {}
    look_up = bulk_starts.prefetch_related_objects

    def another_worker_is_quicker(missing, *lookups):
        if not elsewhere:
            elsewhere["case"] = process_instance_start(
                version=school_start,
                unit=ekbacke,
                pupil=pupils[1],
                bulk_start=bulk,
                data=pupil_start_data(pupils[1]),
            )
        return look_up(missing, *lookups)

    monkeypatch.setattr(bulk_starts, "prefetch_related_objects", another_worker_is_quicker)

    done = bulk_start_run(bulk.pk, chunk_size=4)

    assert (done.status, done.started_count, done.failed_count) == ("completed", 4, 0)
    cases = ProcessInstance.objects.filter(bulk_start=bulk)
    assert sorted(cases.values_list("pupil_id", flat=True)) == [p.pk for p in pupils], "one case each"
    assert cases.get(pupil=pupils[1]) == elsewhere["case"]
    started = AuditEvent.objects.filter(verb=Verb.INSTANCE_STARTED).values_list("instance_id", flat=True)
    assert sorted(started) == sorted(cases.values_list("pk", flat=True)), "nothing of the refused chunk"
    assert audit_chain_verify() is None


def test_a_chunked_run_resumed_after_an_interruption_starts_each_pupil_exactly_once(
    school_start, ekbacke, maja, django_capture_on_commit_callbacks, monkeypatch
):
    """The run dies inside a chunk's transaction, its cases inserted: none of that chunk remains, and
    the committed chunk after the last progress write is found and skipped on resume."""
    from processes.services import instances

    pupils = PupilFactory.create_batch(9, unit=ekbacke)
    bulk = requested(school_start, ekbacke, maja, django_capture_on_commit_callbacks, run=False)
    record, chunks = instances.audit_events_record, []

    def dies_in_the_fourth_chunk(events):
        chunks.append(events)
        if len(chunks) == 4:
            raise KeyboardInterrupt("the worker is gone")
        return record(events)

    monkeypatch.setattr(instances, "audit_events_record", dies_in_the_fourth_chunk)
    with pytest.raises(KeyboardInterrupt):
        bulk_start_run(bulk.pk, batch_size=4, chunk_size=2)
    monkeypatch.undo()
    bulk.refresh_from_db()
    assert (bulk.status, bulk.started_count, ProcessInstance.objects.count()) == ("running", 4, 6)
    assert AuditEvent.objects.filter(verb=Verb.INSTANCE_STARTED).count() == 6, "the dead chunk left nothing"

    with django_capture_on_commit_callbacks(execute=True):
        bulk_start_resume(bulk.pk, maja)

    bulk.refresh_from_db()
    assert (bulk.status, bulk.started_count, bulk.failed_count) == ("completed", 9, 0)
    per_pupil = list(ProcessInstance.objects.filter(bulk_start=bulk).values_list("pupil_id", flat=True))
    assert sorted(per_pupil) == [p.pk for p in pupils]
    assert AuditEvent.objects.filter(verb=Verb.INSTANCE_STARTED).count() == 9
    assert audit_chain_verify() is None
