"""Reads of processes for the staff pages: what a person may start, and how a bulk start is going."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import NotFound
from organisation.models import Pupil, Role, SchoolUnit
from organisation.selectors import units_for_user, user_has_role_at_unit
from processes.models import BulkStart, ProcessInstance, ProcessVersion
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
