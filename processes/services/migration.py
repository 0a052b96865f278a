"""Moving running cases between versions of the same process, where the engine says it is safe.

A dry run lists which cases can move and why the others cannot; a migration job moves the safe ones
in the background with visible progress. Each move keeps the case's previous state and version in an
InstanceMigration row: undo restores them as long as the case has not moved on since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Verb
from common.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from organisation.policy import may_manage_processes
from processes.engine import EngineError, workflow_load, workflow_migrate, workflow_migration_check
from processes.models import InstanceMigration, MigrationJob, ProcessInstance, ProcessVersion
from processes.services.bundles import bundle_for_version
from processes.services.instances import instance_lock, instance_persist

MIGRATED_VERB = Verb.INSTANCE_MIGRATED


@dataclass
class MigrationPlan:
    from_version: ProcessVersion
    to_version: ProcessVersion
    movable: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from_version": self.from_version.number,
            "to_version": self.to_version.number,
            "movable": self.movable,
            "blocked": self.blocked,
        }


def _require_owner(actor: Any) -> None:
    if not may_manage_processes(actor):
        raise PermissionDenied("not_process_owner", _("Only process owners may do this."))


def _check_pair(from_version: ProcessVersion, to_version: ProcessVersion) -> None:
    if from_version.definition_id != to_version.definition_id:
        raise ApplicationError(
            "migration_other_process", _("Cases can only move between versions of the same process.")
        )
    if from_version.pk == to_version.pk:
        raise ApplicationError("migration_same_version", _("Choose two different versions."))
    if to_version.status != ProcessVersion.Status.PUBLISHED:
        raise Conflict("version_not_published", _("Cases can only move to a published version."))


def _reason(blocking: dict[str, str], names: dict[str, str]) -> str:
    reasons = {
        "removed": _("the step %(step)s is not in the target version"),
        "changed": _("the step %(step)s is changed in the target version"),
        "called_process_removed": _("the called process %(step)s is not in the target version"),
    }
    parts = []
    for element, why in sorted(blocking.items()):
        step = names.get(element) or element or "?"
        parts.append(str(reasons.get(why, "%(step)s: " + why) % {"step": step}))
    return "; ".join(parts)


def migration_plan(from_version: ProcessVersion, to_version: ProcessVersion, *, actor: Any) -> MigrationPlan:
    """Dry run: every running case of `from_version`, as movable or blocked with the reason.

    Changes nothing. Raises PermissionDenied `not_process_owner`, ApplicationError
    `migration_other_process` / `migration_same_version`, Conflict `version_not_published`.
    """
    _require_owner(actor)
    _check_pair(from_version, to_version)
    source, target = bundle_for_version(from_version), bundle_for_version(to_version)
    names = {n["id"]: n.get("name") or n["id"] for n in source.model["nodes"]}
    plan = MigrationPlan(from_version, to_version)
    for instance in ProcessInstance.objects.filter(
        version=from_version, status=ProcessInstance.Status.RUNNING
    ).select_related("unit"):
        row = {"id": str(instance.pk), "subject": instance.subject, "unit": instance.unit.name}
        try:
            report = workflow_migration_check(source, target, instance.state)
        except EngineError as exc:
            plan.blocked.append({**row, "reason": exc.message})
            continue
        row["steps"] = [names.get(e, e) for e in report.current]
        if report.safe:
            plan.movable.append(row)
        else:
            plan.blocked.append({**row, "reason": _reason(report.blocking, names)})
    return plan


def instance_migrate(
    instance_id: Any, to_version: ProcessVersion, *, actor: Any, job: MigrationJob | None = None
) -> InstanceMigration:
    """Move one running case to `to_version` under its row lock, keeping what it was for undo.

    Raises PermissionDenied `not_process_owner`, Conflict `instance_not_running`, ApplicationError
    `migration_unsafe` (422, naming the blocking steps) and the pair errors of migration_plan.
    """
    _require_owner(actor)
    with transaction.atomic():
        instance = instance_lock(instance_id)
        if instance.status != ProcessInstance.Status.RUNNING:
            raise Conflict("instance_not_running", _("Only running cases can move to another version."))
        from_version = instance.version
        _check_pair(from_version, to_version)
        source, target = bundle_for_version(from_version), bundle_for_version(to_version)
        try:
            new_state, _report = workflow_migrate(source, target, instance.state)
        except EngineError as exc:
            raise ApplicationError(
                "migration_unsafe",
                _("The case cannot move: %(reason)s") % {"reason": exc.message},
                status=422,
                element_id=exc.element_id,
            ) from exc
        previous_state, previous_revision = instance.state, instance.revision
        instance.version = to_version
        instance.save(update_fields=["version", "updated_at"])
        event = {
            "verb": MIGRATED_VERB,
            "actor": actor,
            "unit_id": instance.unit_id,
            "instance_id": instance.pk,
            "version_id": to_version.pk,
            "before": {"version": from_version.number, "version_id": from_version.pk},
            "after": {"version": to_version.number, "version_id": to_version.pk, "migrated": True},
        }
        instance_persist(instance, workflow_load(target, new_state), actor=actor, events=[event])
        return InstanceMigration.objects.create(
            instance=instance,
            from_version=from_version,
            to_version=to_version,
            previous_state=previous_state,
            previous_revision=previous_revision,
            new_revision=instance.revision,
            job=job,
            migrated_by=actor if getattr(actor, "pk", None) else None,
        )


def instance_migration_undo(migration_id: int, *, actor: Any) -> ProcessInstance:
    """Put the case back on its previous version and state, if it has not moved since the migration.

    Raises PermissionDenied `not_process_owner`, NotFound `migration_not_found`, Conflict
    `migration_undone` and `instance_moved_on`.
    """
    _require_owner(actor)
    with transaction.atomic():
        migration = InstanceMigration.objects.select_related("from_version").filter(pk=migration_id).first()
        if migration is None:
            raise NotFound("migration_not_found", _("The migration does not exist."))
        instance = instance_lock(migration.instance_id)
        migration = InstanceMigration.objects.select_for_update().get(pk=migration_id)
        if migration.undone_at is not None:
            raise Conflict("migration_undone", _("The migration has already been undone."))
        if instance.revision != migration.new_revision or instance.version_id != migration.to_version_id:
            raise Conflict(
                "instance_moved_on", _("The case has moved on since it was migrated; it cannot be undone.")
            )
        instance.version = migration.from_version
        instance.save(update_fields=["version", "updated_at"])
        event = {
            "verb": MIGRATED_VERB,
            "actor": actor,
            "unit_id": instance.unit_id,
            "instance_id": instance.pk,
            "version_id": migration.from_version_id,
            "before": {"version_id": migration.to_version_id},
            "after": {"version_id": migration.from_version_id, "undone_migration": migration.pk},
        }
        source = bundle_for_version(migration.from_version)
        instance_persist(
            instance, workflow_load(source, migration.previous_state), actor=actor, events=[event]
        )
        migration.undone_at = timezone.now()
        migration.save(update_fields=["undone_at"])
    return instance


def migration_job_request(
    from_version: ProcessVersion, to_version: ProcessVersion, *, actor: Any
) -> MigrationJob:
    """Record a bulk migration of every safe running case and queue it once the transaction commits."""
    _require_owner(actor)
    _check_pair(from_version, to_version)
    with transaction.atomic():
        job = MigrationJob.objects.create(
            from_version=from_version,
            to_version=to_version,
            requested_by=actor if getattr(actor, "pk", None) else None,
            total=ProcessInstance.objects.filter(
                version=from_version, status=ProcessInstance.Status.RUNNING
            ).count(),
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from processes.jobs import migration_job_run_job  # the job module imports this one

    migration_job_run_job.delay(job_id)


def migration_job_run(job_id: int) -> MigrationJob:
    """Move every running case of the job's source version that can move; idempotent (a completed job
    is returned unchanged, a case already moved is no longer on the source version)."""
    claimed = MigrationJob.objects.filter(pk=job_id, status=MigrationJob.Status.PENDING).update(
        status=MigrationJob.Status.RUNNING
    )
    job = MigrationJob.objects.select_related("from_version", "to_version", "requested_by").get(pk=job_id)
    if not claimed:
        return job
    skipped = dict(job.skipped)
    migrated = job.migrated_count
    ids = ProcessInstance.objects.filter(
        version=job.from_version, status=ProcessInstance.Status.RUNNING
    ).values_list("pk", flat=True)
    for instance_id in list(ids):
        try:
            instance_migrate(instance_id, job.to_version, actor=job.requested_by, job=job)
            migrated += 1
        except ApplicationError as exc:
            skipped[str(instance_id)] = exc.message
        MigrationJob.objects.filter(pk=job.pk).update(
            migrated_count=migrated, skipped_count=len(skipped), skipped=skipped
        )
    MigrationJob.objects.filter(pk=job.pk).update(
        status=MigrationJob.Status.COMPLETED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
