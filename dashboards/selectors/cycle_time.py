"""Per process: cases started and completed per week (throughput), cases open at each week's end (work in
progress), and cycle time (start → completion) median and p90, overall and per week of completion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from dashboards.selectors.durations import EMPTY, Durations, durations_by_group
from dashboards.selectors.scope import DashboardFilters, instances_completed_in_period, instances_in_scope

CYCLE = {"cycle": (("completed_at",), "started_at")}


@dataclass(frozen=True)
class Week:
    monday: date
    started: int
    completed: int
    open_at_end: int
    cycle: Durations


@dataclass(frozen=True)
class Overview:
    started: int
    completed: int
    open_now: int
    cycle: Durations
    weeks: list[Week]


def _monday(value: date | datetime) -> date:
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value - timedelta(days=value.weekday())


def _week(field: str) -> TruncWeek:
    return TruncWeek(field, tzinfo=timezone.get_current_timezone())


def _per_week(filters: DashboardFilters, field: str, **counts: Q) -> dict[str, dict[date, int]]:
    """{count name: {monday: cases}} for the cases with `field` in the period, one query for all counts
    (each count its own condition)."""
    qs = (
        instances_in_scope(filters)
        .filter(**{f"{field}__gte": filters.start, f"{field}__lt": filters.end})
        .annotate(week=_week(field))
        .order_by()
        .values("week")
        .annotate(**{name: Count("pk", filter=condition) for name, condition in counts.items()})
    )
    result: dict[str, dict[date, int]] = {name: {} for name in counts}
    for row in qs:
        for name in counts:
            if row[name]:
                result[name][_monday(row["week"])] = row[name]
    return result


def process_overview(filters: DashboardFilters) -> Overview:
    """Throughput, work in progress and cycle time for the cases in scope.

    Counts: cases started in the period and cases completed in it. Cycle time: completed cases, by the
    week they were completed. Open at a week's end: cases started by then and not yet ended (completed,
    cancelled or stopped on an error all end a case's work here).
    """
    scope = instances_in_scope(filters)
    started = _per_week(filters, "started_at", started=Q())["started"]
    ends = _per_week(filters, "completed_at", completed=Q(status="completed"), ended=Q())
    completed, ended = ends["completed"], ends["ended"]
    open_at_end = (
        scope.filter(started_at__lt=filters.start)
        .filter(Q(completed_at__isnull=True) | Q(completed_at__gte=filters.start))
        .count()
    )
    done = instances_completed_in_period(filters)
    overall = durations_by_group(done, [], CYCLE).get((), {}).get("cycle", EMPTY)
    weekly = {
        _monday(week): measures["cycle"]
        for (week,), measures in durations_by_group(
            done.annotate(week=_week("completed_at")), ["week"], CYCLE
        ).items()
    }
    weeks = []
    monday = _monday(filters.date_from)
    while monday <= filters.date_to:
        open_at_end += started.get(monday, 0) - ended.get(monday, 0)
        weeks.append(
            Week(
                monday,
                started.get(monday, 0),
                completed.get(monday, 0),
                open_at_end,
                weekly.get(monday, EMPTY),
            )
        )
        monday += timedelta(days=7)
    return Overview(
        started=sum(started.values()),
        completed=sum(completed.values()),
        open_now=scope.filter(status="running").count(),
        cycle=overall,
        weeks=weeks,
    )
