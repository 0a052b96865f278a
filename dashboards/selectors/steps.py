"""Per step (user task element): waiting and working time, the age of today's queues, rework loops.

Waiting is ready → claimed. A task completed without being claimed first waited all the way from ready to
completed, and has no working time. Working is claimed → completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max
from django.utils import timezone

from dashboards.selectors.durations import Durations, durations_by_group
from dashboards.selectors.scope import DashboardFilters, tasks_completed_in_period, tasks_in_scope
from dashboards.stats import median
from processes.models import ProcessVersion
from processes.services.bundles import bundle_for_version
from tasks.models import UserTask

STEP_MEASURES = {
    "waiting": (("claimed_at", "completed_at"), "ready_at"),
    "working": (("completed_at",), "claimed_at"),
}


@dataclass(frozen=True)
class StepTimes:
    element_id: str
    name: str
    lane: str
    waiting: Durations
    working: Durations

    @property
    def tasks(self) -> int:
        return self.waiting.count


@dataclass(frozen=True)
class QueueAge:
    lane: str
    unit_name: str
    open_tasks: int
    oldest_days: float
    median_days: float | None


@dataclass(frozen=True)
class Rework:
    element_id: str
    name: str
    cases: int
    extra_visits: int


def _step_facts(filters: DashboardFilters, element_ids: list[str]) -> dict[str, tuple[int, str, str]]:
    """(order, name, lane) per step from the versions' models; a step no model knows (a renamed or
    removed one) is named from one of its tasks. Kept out of the aggregate: text max over every row
    costs more than the percentiles."""
    versions = ProcessVersion.objects.filter(definition=filters.process)
    if filters.versions:
        versions = versions.filter(pk__in=filters.versions)
    facts: dict[str, tuple[int, str, str]] = {}
    for version in versions.order_by("-number"):
        for order, task in enumerate(bundle_for_version(version).user_tasks()):
            facts.setdefault(
                task["element_id"], (order, task["name"] or task["element_id"], task["lane"] or "")
            )
    for element_id in element_ids:
        if element_id not in facts:
            row = tasks_in_scope(filters).filter(element_id=element_id).values_list("name", "lane").first()
            facts[element_id] = (10_000, *(row or (element_id, "")))
    return facts


def step_times(filters: DashboardFilters) -> list[StepTimes]:
    """Waiting and working time per step, for the tasks completed in the period, in process order."""
    groups = durations_by_group(tasks_completed_in_period(filters), ["element_id"], STEP_MEASURES)
    facts = _step_facts(filters, [key[0] for key in groups])
    steps = [
        StepTimes(key[0], facts[key[0]][1], facts[key[0]][2], m["waiting"], m["working"])
        for key, m in groups.items()
    ]
    return sorted(steps, key=lambda s: (facts[s.element_id][0], s.element_id))


def queue_ages(filters: DashboardFilters, now: datetime | None = None) -> list[QueueAge]:
    """Open tasks now, per role and school unit: how many, the oldest and the median age in days."""
    now = now or timezone.now()
    qs = tasks_in_scope(filters).filter(status=UserTask.Status.OPEN)
    ages: dict[tuple[str, str], list[float]] = {}
    for lane, unit_name, ready_at in qs.order_by().values_list("lane", "unit__name", "ready_at"):
        ages.setdefault((lane, unit_name), []).append((now - ready_at).total_seconds() / 86400)
    return [
        QueueAge(lane, unit_name, len(values), max(values), median(values))
        for (lane, unit_name), values in sorted(ages.items(), key=lambda item: -max(item[1]))
    ]


def rework_loops(filters: DashboardFilters) -> list[Rework]:
    """Steps done more than once in one case (a guardian's own task of a multi-instance step is not a
    repeat), over the cases that completed a task in the period."""
    qs = (
        tasks_completed_in_period(filters)
        .order_by()
        .values("instance_id", "element_id", "guardian_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    per_step: dict[str, list[int]] = {}
    for row in qs:
        per_step.setdefault(row["element_id"], []).append(row["n"] - 1)
    names: dict[str, Any] = dict(
        tasks_in_scope(filters)
        .filter(element_id__in=per_step)
        .order_by()
        .values_list("element_id")
        .annotate(name=Max("name"))
    )
    result = [Rework(e, names.get(e, e), len(v), sum(v)) for e, v in per_step.items()]
    return sorted(result, key=lambda r: (-r.extra_visits, r.element_id))
