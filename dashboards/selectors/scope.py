"""Who may see which dashboards, and the filters every dashboard applies.

Principals see the school units where they are principal, the governing body sees every unit, superusers
see everything; everybody else is refused. Dashboards show aggregates only, never a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.utils import timezone

from organisation.models import Membership, Role, SchoolUnit
from processes.models import ProcessDefinition, ProcessInstance, ProcessVersion
from tasks.models import UserTask

DEFAULT_PERIOD_DAYS = 182


def dashboard_units_for_user(user: Any) -> list[int] | None:
    """The unit ids a user's dashboards cover; None means every unit. Raises PermissionDenied."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied
    if user.is_superuser:
        return None
    roles = Membership.objects.filter(user=user, role__in=[Role.PRINCIPAL, Role.GOVERNING_BODY])
    if roles.filter(role=Role.GOVERNING_BODY).exists():
        return None
    units = list(roles.values_list("unit_id", flat=True).distinct())
    if not units:
        raise PermissionDenied
    return sorted(units)


def dashboard_may_view(user: Any) -> bool:
    try:
        dashboard_units_for_user(user)
    except PermissionDenied:
        return False
    return True


@dataclass(frozen=True)
class DashboardFilters:
    """One process, the units the viewer may see (narrowed by `unit`), versions and a period of case
    starts [date_from, date_to]."""

    process: ProcessDefinition
    allowed_units: list[int] | None
    unit: int | None = None
    versions: tuple[int, ...] = ()
    date_from: date = field(
        default_factory=lambda: timezone.localdate() - timedelta(days=DEFAULT_PERIOD_DAYS)
    )
    date_to: date = field(default_factory=timezone.localdate)

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.date_from, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.date_to + timedelta(days=1), time.min))

    @property
    def unit_ids(self) -> list[int] | None:
        if self.unit is not None:
            return [self.unit]
        return self.allowed_units

    def with_versions(self, *versions: int) -> DashboardFilters:
        return DashboardFilters(
            self.process, self.allowed_units, self.unit, tuple(versions), self.date_from, self.date_to
        )

    def as_query(self) -> dict[str, str]:
        query = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        if self.unit is not None:
            query["unit"] = str(self.unit)
        if len(self.versions) == 1:
            query["version"] = str(self.versions[0])
        return query


def dashboard_filters_build(
    user: Any,
    process_key: str,
    *,
    unit: int | None = None,
    version: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> DashboardFilters:
    """Filters for `user` on a process; a unit outside the user's scope is refused (PermissionDenied)."""
    allowed = dashboard_units_for_user(user)
    process = ProcessDefinition.objects.filter(key=process_key).first()
    if process is None:
        raise PermissionDenied
    if unit is not None and allowed is not None and unit not in allowed:
        raise PermissionDenied
    versions = ()
    if version is not None and ProcessVersion.objects.filter(pk=version, definition=process).exists():
        versions = (version,)
    today = timezone.localdate()
    date_to = date_to or today
    date_from = date_from or date_to - timedelta(days=DEFAULT_PERIOD_DAYS)
    if date_from > date_to:
        date_from, date_to = date_to, date_from
    return DashboardFilters(process, allowed, unit, versions, date_from, date_to)


def instances_in_scope(filters: DashboardFilters) -> QuerySet:
    """Cases of the process in the viewer's units and the chosen versions, at any time."""
    qs = ProcessInstance.objects.filter(version__definition=filters.process)
    if filters.unit_ids is not None:
        qs = qs.filter(unit_id__in=filters.unit_ids)
    if filters.versions:
        qs = qs.filter(version_id__in=filters.versions)
    return qs


def instances_completed_in_period(filters: DashboardFilters) -> QuerySet:
    """Cases completed in the period: what cycle times and variants are measured on."""
    return instances_in_scope(filters).filter(
        status=ProcessInstance.Status.COMPLETED, completed_at__gte=filters.start, completed_at__lt=filters.end
    )


def tasks_in_scope(filters: DashboardFilters) -> QuerySet:
    """User tasks of the process in the viewer's units and the chosen versions, at any time."""
    versions = filters.versions or tuple(filters.process.versions.values_list("pk", flat=True))
    # By version id, not through the definition: one join less over the task table.
    qs = UserTask.objects.filter(instance__version_id__in=versions)
    if filters.unit_ids is not None:
        qs = qs.filter(unit_id__in=filters.unit_ids)
    return qs


def tasks_completed_in_period(filters: DashboardFilters) -> QuerySet:
    """Tasks completed in the period: what waiting and working times are measured on."""
    return tasks_in_scope(filters).filter(
        status=UserTask.Status.COMPLETED, completed_at__gte=filters.start, completed_at__lt=filters.end
    )


def processes_for_dashboards() -> QuerySet[ProcessDefinition]:
    return ProcessDefinition.objects.filter(versions__instances__isnull=False).distinct().order_by("name_sv")


def versions_of(process: ProcessDefinition) -> QuerySet[ProcessVersion]:
    return process.versions.order_by("number")


def units_for_filters(allowed: list[int] | None) -> QuerySet[SchoolUnit]:
    return SchoolUnit.objects.all() if allowed is None else SchoolUnit.objects.filter(Q(pk__in=allowed))
