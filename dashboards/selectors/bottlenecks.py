"""Where cases wait: steps ranked by their total waiting time and its share of all cycle time, and the
most common paths through the process (variants)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.postgres.aggregates import StringAgg
from django.db import connection
from django.db.models import OuterRef, Subquery

from dashboards.selectors.cycle_time import CYCLE
from dashboards.selectors.durations import EMPTY, Durations, durations_by_group
from dashboards.selectors.scope import DashboardFilters, instances_completed_in_period
from dashboards.selectors.steps import StepTimes, step_times
from dashboards.stats import percentile_cont
from tasks.models import UserTask

VARIANT_SEPARATOR = " → "


@dataclass(frozen=True)
class Bottleneck:
    step: StepTimes
    rank: int
    share_of_cycle_time: float | None


@dataclass(frozen=True)
class Variant:
    steps: list[str]
    cases: int
    share: float
    cycle: Durations


def bottlenecks_rank(
    filters: DashboardFilters, steps: list[StepTimes] | None = None, cycle: Durations | None = None
) -> list[Bottleneck]:
    """Steps by total waiting time, largest first; share = the step's waiting over the total cycle time
    of the cases completed in the period (None without completed cases). `steps` and `cycle` may be
    passed in when already computed."""
    steps = step_times(filters) if steps is None else steps
    if cycle is None:
        cycle = (
            durations_by_group(instances_completed_in_period(filters), [], CYCLE)
            .get((), {})
            .get("cycle", EMPTY)
        )
    ordered = sorted(steps, key=lambda s: (-s.waiting.total, s.element_id))
    return [
        Bottleneck(step, index + 1, step.waiting.total / cycle.total if cycle.total else None)
        for index, step in enumerate(ordered)
    ]


def _paths(filters: DashboardFilters) -> dict[object, tuple[str, float]]:
    """{case id: (element ids in the order their tasks became ready, cycle seconds)}."""
    cases = instances_completed_in_period(filters)
    if connection.vendor == "postgresql":
        path = (
            UserTask.objects.filter(instance=OuterRef("pk"))
            .order_by()
            .values("instance")
            .annotate(p=StringAgg("element_id", VARIANT_SEPARATOR, order_by=("ready_at", "id")))
            .values("p")
        )
        return {
            pk: (p or "", (done - started).total_seconds())
            for pk, p, started, done in cases.annotate(path=Subquery(path)).values_list(
                "pk", "path", "started_at", "completed_at"
            )
        }
    times = {
        pk: (done - started).total_seconds()
        for pk, started, done in cases.values_list("pk", "started_at", "completed_at")
    }
    steps: dict[object, list[str]] = defaultdict(list)
    rows = UserTask.objects.filter(instance__in=cases).order_by("instance_id", "ready_at", "id")
    for instance_id, element_id in rows.values_list("instance_id", "element_id").iterator(chunk_size=5000):
        steps[instance_id].append(element_id)
    return {pk: (VARIANT_SEPARATOR.join(steps.get(pk, [])), seconds) for pk, seconds in times.items()}


def variants_top(filters: DashboardFilters, limit: int = 5) -> list[Variant]:
    """The most common sequences of steps among the cases completed in the period, with their share of
    cases and median and p90 cycle time. Ties on count are ordered by the path itself."""
    groups: dict[str, list[float]] = defaultdict(list)
    for path, seconds in _paths(filters).values():
        groups[path].append(seconds)
    total = sum(len(v) for v in groups.values())
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:limit]
    return [
        Variant(
            path.split(VARIANT_SEPARATOR) if path else [],
            len(seconds),
            len(seconds) / total,
            Durations(
                len(seconds), percentile_cont(seconds, 0.5), percentile_cont(seconds, 0.9), sum(seconds)
            ),
        )
        for path, seconds in ordered
    ]
