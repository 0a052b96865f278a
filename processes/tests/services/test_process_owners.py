"""Process owners: drafts with problems, publishing, diffs, pilots, rendering and migrating cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from common.errors import ApplicationError, PermissionDenied
from organisation.tests.factories import SchoolUnitFactory, UserFactory
from processes.models import InstanceMigration, MigrationJob, ProcessInstance, ProcessVersion
from processes.selectors import process_catalogue
from processes.services.diff import process_diff
from processes.services.drafts import process_draft_publish, process_draft_save
from processes.services.instances import (
    instance_lock,
    instance_persist,
    instance_workflow,
    process_instance_start,
)
from processes.services.migration import (
    MIGRATED_VERB,
    instance_migrate,
    instance_migration_undo,
    migration_job_request,
    migration_plan,
)
from processes.services.pilots import PILOT_VERB, pilot_create, pilot_end, process_version_for_unit
from processes.services.rendering import instance_svg, version_svg
from processes.services.versions import BundleFiles, process_version_deploy
from processes.tests.factories import published_support_version, support_bundle_files
from tasks.models import UserTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def maja(db):
    """Process owner at the education office."""
    user = UserFactory(username="maja")
    user.user_permissions.add(Permission.objects.get(codename="manage_process"))
    return user


def test_only_process_owners_save_drafts_and_pilot(rut, support_version, ekbacke):
    with pytest.raises(PermissionDenied):
        process_draft_save(key="support_fixture", bpmn="<x/>", author=rut)
    with pytest.raises(PermissionDenied):
        pilot_create(version=support_version, unit=ekbacke, starts_on=timezone.localdate(), actor=rut)


def test_a_draft_with_problems_is_saved_but_not_published(maja):
    bpmn = support_bundle_files().files["support.bpmn"].replace('default="f_no_need"', "")
    draft = process_draft_save(
        key="support_fixture", bpmn=bpmn, forms=support_bundle_files().forms, author=maja
    )
    assert draft.revision == 1 and draft.problems
    assert {p["element_id"] for p in draft.problems} >= {"gw_need"}
    with pytest.raises(ApplicationError) as refused:
        process_draft_publish(draft, actor=maja)
    assert refused.value.code == "bundle_invalid"
    assert not ProcessVersion.objects.filter(definition__key="support_fixture").exists()


def test_a_clean_draft_publishes_and_identical_content_gives_the_same_version(maja, support_version):
    files = support_bundle_files()
    draft = process_draft_save(
        key="support_fixture", bpmn=files.files["support.bpmn"], author=maja, changelog="Samma innehåll"
    )
    assert draft.problems == [] and draft.revision == 1
    assert process_draft_publish(draft, actor=maja).pk == support_version.pk
    changed = process_draft_save(
        key="support_fixture",
        bpmn=files.files["support.bpmn"].replace("Fatta beslut", "Besluta"),
        author=maja,
        changelog="Nytt namn",
    )
    assert changed.revision == 2
    version = process_draft_publish(changed, actor=maja)
    assert version.number == 2 and version.status == ProcessVersion.Status.PUBLISHED
    assert version.author == maja and version.changelog == "Nytt namn"


def test_diff_lists_elements_flows_timers_and_form_fields(support_version):
    forms = support_bundle_files().forms
    forms["decide.schema.json"]["properties"]["motivation_extra"] = {"type": "string", "title": "Extra"}
    bundle = support_bundle_files(**{'"P5D"': '"P10D"', 'name="Fatta beslut"': 'name="Besluta"'})
    v2, _ = process_version_deploy(BundleFiles(bundle.manifest, bundle.files, forms))
    diff = process_diff(support_version, v2)
    changes = {(c.kind, c.change, c.id) for c in diff.changes}
    assert ("element", "changed", "decide") in changes
    assert ("element", "changed", "decide_deadline") in changes  # the timer
    assert ("form_field", "added", "decide.schema.json#motivation_extra") in changes
    assert "decide" in diff.changed and diff.added == []


def test_pilot_units_start_on_the_pilot_everyone_else_on_the_baseline(maja, support_version, ekbacke):
    other = SchoolUnitFactory()
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    pilot = pilot_create(version=v2, unit=ekbacke, starts_on=timezone.localdate(), actor=maja)
    assert process_version_for_unit("support_fixture", ekbacke) == v2
    # The newer version is being piloted: it is not everyone's version yet.
    assert process_version_for_unit("support_fixture", other) == support_version
    yesterday = timezone.localdate() - timedelta(days=1)
    assert process_version_for_unit("support_fixture", ekbacke, yesterday) == support_version
    assert AuditEvent.objects.filter(verb=PILOT_VERB, after__pilot=pilot.pk).exists()
    pilot_end(pilot, actor=maja)
    # Ended: the newest published version is everyone's again.
    assert process_version_for_unit("support_fixture", ekbacke) == v2
    assert process_version_for_unit("support_fixture", other) == v2


def test_a_second_pilot_at_the_same_unit_ends_the_first(maja, support_version, ekbacke):
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    today = timezone.localdate()
    first = pilot_create(
        version=support_version, unit=ekbacke, starts_on=today - timedelta(days=10), actor=maja
    )
    pilot_create(version=v2, unit=ekbacke, starts_on=today, actor=maja)
    first.refresh_from_db()
    assert first.ends_on == today - timedelta(days=1)
    assert process_version_for_unit("support_fixture", ekbacke) == v2


def test_rendering_a_version_and_a_case(support_version, ekbacke):
    svg = version_svg(support_version)
    assert svg.startswith("<?xml") and "Fyll i ansökan" in svg and "cluster_guardian" in svg
    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A-1"})
    assert 'id="apply"' in instance_svg(case) and "#fff2cc" in instance_svg(case)


def test_a_case_moves_when_its_steps_are_unchanged_and_undo_restores_it(maja, support_version, ekbacke):
    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A-1"})
    open_task = case.user_tasks.get(status=UserTask.Status.OPEN)
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    plan = migration_plan(support_version, v2, actor=maja)
    assert [row["id"] for row in plan.movable] == [str(case.pk)] and plan.blocked == []

    migration = instance_migrate(case.pk, v2, actor=maja)
    case.refresh_from_db()
    assert case.version == v2 and migration.previous_revision + 1 == case.revision
    assert case.user_tasks.get(status=UserTask.Status.OPEN).pk == open_task.pk  # the inbox entry stays
    assert AuditEvent.objects.filter(verb=MIGRATED_VERB, instance_id=case.pk).exists()

    instance_migration_undo(migration.pk, actor=maja)
    case.refresh_from_db()
    assert case.version == support_version
    assert InstanceMigration.objects.get(pk=migration.pk).undone_at is not None


def test_a_case_at_a_changed_step_is_blocked_with_the_reason(maja, support_version, ekbacke):
    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A-1"})
    v2 = published_support_version(**{"Fyll i ansökan": "Ansök"})
    plan = migration_plan(support_version, v2, actor=maja)
    assert plan.movable == [] and plan.blocked[0]["id"] == str(case.pk)
    assert "Fyll i ansökan" in plan.blocked[0]["reason"]
    with pytest.raises(ApplicationError) as refused:
        instance_migrate(case.pk, v2, actor=maja)
    assert refused.value.code == "migration_unsafe"


def test_migrated_case_runs_on_and_undo_is_refused_after_it_moved(maja, support_version, ekbacke, rut):
    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A-1"})
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    migration = instance_migrate(case.pk, v2, actor=maja)
    with transaction.atomic():
        locked = instance_lock(case.pk)
        workflow = instance_workflow(locked)
        ready = workflow.ready_user_tasks()[0]
        workflow.complete_user_task(ready.task_id, {"needs": "mycket", "score": 5})
        instance_persist(locked, workflow)
    case.refresh_from_db()
    assert case.version == v2 and case.status in (
        ProcessInstance.Status.RUNNING,
        ProcessInstance.Status.ERROR,
    )
    with pytest.raises(ApplicationError) as refused:
        instance_migration_undo(migration.pk, actor=maja)
    assert refused.value.code == "instance_moved_on"


def test_migration_job_moves_the_safe_cases_and_lists_the_others(
    maja, support_version, ekbacke, django_capture_on_commit_callbacks
):
    for n in range(2):
        process_instance_start(version=support_version, unit=ekbacke, data={"case_id": f"A-{n}"})
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    with django_capture_on_commit_callbacks(execute=True):
        job = migration_job_request(support_version, v2, actor=maja)  # Celery is eager in tests
    job.refresh_from_db()
    assert job.status == MigrationJob.Status.COMPLETED and job.total == 2 and job.migrated_count == 2
    assert ProcessInstance.objects.filter(version=v2).count() == 2


def test_the_catalogue_shows_the_baseline_and_who_pilots_what(maja, support_version, ekbacke):
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    pilot_create(version=v2, unit=ekbacke, starts_on=timezone.localdate(), actor=maja)
    process_instance_start(version=v2, unit=ekbacke, data={"case_id": "A-1"})
    [row] = process_catalogue()
    assert row["current"] == support_version and [p.unit for p in row["pilots"]] == [ekbacke]
    assert (row["running"], row["finished"]) == (1, 0)
