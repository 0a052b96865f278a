"""Reads of processes for the staff pages: what a person may start, and how a bulk start is going."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import NotFound
from organisation.models import Pupil, Role, SchoolUnit
from organisation.selectors import units_for_user, user_has_role_at_unit
from processes.models import (
    BulkStart,
    InstanceMigration,
    MigrationJob,
    Pilot,
    ProcessDefinition,
    ProcessDraft,
    ProcessInstance,
    ProcessVersion,
)
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_may_complete

# A bulk start that is waiting or running but has not moved for this long has lost its worker (or its
# queued job): a redelivered job may take it over, and the page offers to resume it. A batch takes
# seconds, so this is generous.
BULK_START_STALE_AFTER = timedelta(minutes=10)


def bulk_start_may_request(user: Any, unit: SchoolUnit | None) -> bool:
    """A school administrator or principal for their own unit; a governing body member for any unit
    and for the whole municipality."""
    if units_for_user(user, Role.GOVERNING_BODY).exists():
        return True
    return unit is not None and any(
        user_has_role_at_unit(user, role, unit) for role in (Role.SCHOOL_ADMIN, Role.PRINCIPAL)
    )


def process_versions_current() -> QuerySet[ProcessVersion]:
    """The newest published version of every process, by Swedish name."""
    newer = ProcessVersion.objects.filter(
        definition=OuterRef("definition"),
        status=ProcessVersion.Status.PUBLISHED,
        number__gt=OuterRef("number"),
    )
    return (
        ProcessVersion.objects.filter(status=ProcessVersion.Status.PUBLISHED)
        .filter(~Exists(newer))
        .select_related("definition")
        .order_by("definition__name_sv")
    )


def startable_processes_for_user(user: Any, unit: SchoolUnit | int | None = None) -> QuerySet[ProcessVersion]:
    """The published versions the user may start cases of at `unit` (None: at any of their units):
    the current version of every process, for anyone holding a staff role there; nothing otherwise."""
    units = units_for_user(user)
    if unit is not None:
        units = units.filter(pk=unit.pk if isinstance(unit, SchoolUnit) else unit)
    if not units.exists():
        return ProcessVersion.objects.none()
    return process_versions_current()


def case_start_pupils_for_user(user: Any) -> QuerySet[Pupil]:
    """The pupils a member of staff may start a case for: those of the units where they hold a role."""
    return (
        Pupil.objects.filter(unit__in=units_for_user(user))
        .select_related("unit")
        .order_by("unit__name", "last_name", "first_name", "pk")
    )


def case_first_task_for_user(instance: ProcessInstance, user: Any) -> UserTask | None:
    """The case's first open task if this user may complete it (then the page to go to next)."""
    for task in (
        instance.user_tasks.filter(status=UserTask.Status.OPEN)
        .select_related("instance__pupil", "guardian")
        .order_by("pk")
    ):
        if user_task_may_complete(user, task):
            return task
    return None


def bulk_start_scopes_for_user(user: Any) -> tuple[bool, QuerySet[SchoolUnit]]:
    """Whether the user may start for the whole municipality, and the units they may start for."""
    if units_for_user(user, Role.GOVERNING_BODY).exists():
        return True, SchoolUnit.objects.order_by("name")
    units = SchoolUnit.objects.filter(
        memberships__user=user, memberships__role__in=[Role.SCHOOL_ADMIN, Role.PRINCIPAL]
    )
    return False, units.distinct().order_by("name")


def bulk_start_get_for_user(user: Any, bulk_start_id: int) -> BulkStart:
    """The bulk start if the user may follow it (whoever may request one for its scope); NotFound
    otherwise, without revealing whether it exists."""
    bulk = (
        BulkStart.objects.select_related("version__definition", "unit", "requested_by")
        .filter(pk=bulk_start_id)
        .first()
    )
    if bulk is None or not (user.is_authenticated and bulk_start_may_request(user, bulk.unit)):
        raise NotFound("bulk_start_not_found", _("The bulk start does not exist or you may not see it."))
    return bulk


def bulk_start_progress(bulk_start_id: int) -> dict[str, Any]:
    """Status and counts of a bulk start, as the progress page and its JSON show them.

    `stalled` is true when it is waiting or running but has not moved for BULK_START_STALE_AFTER (its
    worker or its queued job is probably lost; it can be resumed)."""
    bulk = BulkStart.objects.filter(pk=bulk_start_id).first()
    if bulk is None:
        raise NotFound("bulk_start_not_found", _("The bulk start does not exist."))
    done = bulk.started_count + bulk.failed_count
    percent = 100 if bulk.total == 0 else min(100, round(100 * bulk.started_count / bulk.total))
    stalled = (
        bulk.status in (BulkStart.Status.PENDING, BulkStart.Status.RUNNING)
        and bulk.updated_at < timezone.now() - BULK_START_STALE_AFTER
    )
    return {
        "id": bulk.pk,
        "status": bulk.status,
        "status_label": str(bulk.get_status_display()),
        "total": bulk.total,
        "started": bulk.started_count,
        "failed": bulk.failed_count,
        "remaining": max(0, bulk.total - done),
        "percent": percent,
        "last_error": bulk.last_error,
        "finished": bulk.status in (BulkStart.Status.COMPLETED, BulkStart.Status.FAILED),
        "stalled": stalled,
        "resumable": bulk.status == BulkStart.Status.FAILED or stalled,
    }


# -- process owners ---------------------------------------------------------------------------------
def process_version_baseline(key: str, on: date | None = None) -> ProcessVersion | None:
    """What every unit without a pilot runs: the newest published version that is not being piloted
    (a pilot running or planned on `on` or later), else the newest published version; None if none."""
    on = on or timezone.localdate()
    published = ProcessVersion.objects.filter(
        definition__key=key, status=ProcessVersion.Status.PUBLISHED
    ).select_related("definition")
    piloted = Pilot.objects.filter(version__definition__key=key).filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=on)
    )
    return (
        published.exclude(pk__in=piloted.values("version_id")).order_by("-number").first()
        or published.order_by("-number").first()
    )


def process_catalogue() -> list[dict[str, Any]]:
    """Every process: its current (published) version, drafts, pilots, running/finished counts, owner."""
    today = timezone.localdate()
    definitions = (
        ProcessDefinition.objects.select_related("owner")
        .annotate(
            running=Count("versions__instances", filter=Q(versions__instances__status="running")),
            finished=Count("versions__instances", filter=Q(versions__instances__status="completed")),
        )
        .order_by("name_sv")
    )
    current = {d.pk: process_version_baseline(d.key, today) for d in definitions}
    drafts = dict(
        ProcessDraft.objects.values("key").annotate(latest=Max("revision")).values_list("key", "latest")
    )
    pilots: dict[int, list[Pilot]] = {}
    for pilot in (
        Pilot.objects.filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .select_related("version", "unit")
        .order_by("unit__name")
    ):
        pilots.setdefault(pilot.version.definition_id, []).append(pilot)
    rows = [
        {
            "definition": d,
            "current": current.get(d.pk),
            "latest_draft": drafts.get(d.key),
            "draft_versions": d.versions.filter(status=ProcessVersion.Status.DRAFT).count(),
            "pilots": pilots.get(d.pk, []),
            "running": d.running,
            "finished": d.finished,
        }
        for d in definitions
    ]
    known = {d.key for d in definitions}
    rows += [
        {
            "definition": None,
            "key": key,
            "current": None,
            "latest_draft": latest,
            "draft_versions": 0,
            "pilots": [],
            "running": 0,
            "finished": 0,
        }
        for key, latest in sorted(drafts.items())
        if key not in known
    ]
    return rows


def process_definition_get(key: str) -> ProcessDefinition:
    definition = ProcessDefinition.objects.select_related("owner").filter(key=key).first()
    if definition is None:
        raise NotFound("process_not_found", _("The process does not exist."))
    return definition


def process_instance_get_for_user(user: Any, instance_id: Any, *, history: bool = False) -> ProcessInstance:
    """The case if the user may see it (its history: staff at its unit only); NotFound otherwise,
    without revealing whether it exists."""
    from organisation.policy import may_see_case, may_see_case_history

    instance = (
        ProcessInstance.objects.select_related("version__definition", "unit", "pupil")
        .filter(pk=instance_id)
        .first()
    )
    allowed = instance is not None and (
        may_see_case_history(user, instance.unit_id)
        if history
        else may_see_case(user, instance.unit_id, instance.pupil)
    )
    if not allowed:
        raise NotFound("case_not_found", _("The case does not exist or you may not see it."))
    return instance


def process_instance_history(instance: ProcessInstance) -> QuerySet:
    """The case's audit events in order: what happened, who did it, at which element."""
    from audit.models import AuditEvent

    return AuditEvent.objects.filter(instance_id=instance.pk).order_by("occurred_at", "id")


def process_version_get(key: str, number: int) -> ProcessVersion:
    version = (
        ProcessVersion.objects.select_related("definition").filter(definition__key=key, number=number).first()
    )
    if version is None:
        raise NotFound("version_not_found", _("The process version does not exist."))
    return version


def process_definition_overview(definition: ProcessDefinition) -> dict[str, Any]:
    """A process owner's page: versions with their case counts, draft revisions, pilots, migrations."""
    versions = list(
        definition.versions.select_related("author")
        .order_by("-number")
        .annotate(
            running=Count("instances", filter=Q(instances__status=ProcessInstance.Status.RUNNING)),
            finished=Count("instances", filter=Q(instances__status=ProcessInstance.Status.COMPLETED)),
        )
    )
    return {
        "definition": definition,
        "versions": versions,
        "published": [v for v in versions if v.status == ProcessVersion.Status.PUBLISHED],
        "drafts": list(
            ProcessDraft.objects.filter(key=definition.key)
            .select_related("author")
            .order_by("-revision")[:20]
        ),
        "pilots": list(
            Pilot.objects.filter(version__definition=definition)
            .select_related("version", "unit", "created_by")
            .order_by("-starts_on", "-pk")
        ),
        "units": SchoolUnit.objects.order_by("name"),
        "today": timezone.localdate(),
    }


def process_version_by_id(version_id: int) -> ProcessVersion:
    version = ProcessVersion.objects.select_related("definition").filter(pk=version_id).first()
    if version is None:
        raise NotFound("version_not_found", _("The version does not exist."))
    return version


def process_draft_get(draft_id: int) -> ProcessDraft:
    draft = ProcessDraft.objects.select_related("definition", "author").filter(pk=draft_id).first()
    if draft is None:
        raise NotFound("draft_not_found", _("The draft does not exist."))
    return draft


def process_draft_latest(key: str) -> ProcessDraft | None:
    return ProcessDraft.objects.filter(key=key).order_by("-revision").first()


def process_instance_for_owner(instance_id: Any) -> ProcessInstance:
    """Any case, for a process owner's diagram of it (callers check policy.may_manage_processes)."""
    instance = ProcessInstance.objects.select_related("version__definition").filter(pk=instance_id).first()
    if instance is None:
        raise NotFound("instance_not_found", _("The case does not exist."))
    return instance


def migration_job_get(job_id: int) -> MigrationJob:
    job = (
        MigrationJob.objects.select_related("from_version__definition", "to_version")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        raise NotFound("migration_job_not_found", _("The migration does not exist."))
    return job


def instance_migrations_for_process(definition: ProcessDefinition) -> QuerySet[InstanceMigration]:
    return (
        InstanceMigration.objects.filter(to_version__definition=definition)
        .select_related("from_version", "to_version", "instance__unit", "migrated_by")
        .order_by("-migrated_at", "-pk")
    )
