"""load_demo_history: a year of completed cases for every process with user tasks, a bottleneck at one unit,
a special support pilot that waits less, idempotent."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.core.management import call_command

from dashboards.selectors.pilots import pilot_compare
from dashboards.selectors.scope import DashboardFilters
from dashboards.selectors.steps import step_times
from dashboards.services.demo import PILOT_CHANGELOG, bottleneck_unit, demo_history_load, main_user_tasks
from organisation.models import SchoolUnit
from organisation.tests.factories import SchoolUnitFactory
from processes.models import ProcessInstance, ProcessVersion
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _deploy(key: str) -> ProcessVersion:
    folder = next(p for p in process_library_folders() if p.name == key)
    version, _ = process_version_deploy(bundle_files_from_folder(folder))
    return process_version_publish(version)


def test_demo_history_tells_the_pilot_story_once(db):
    SchoolUnitFactory(name="Ekbackeskolan", kind=SchoolUnit.Kind.COMPULSORY)
    SchoolUnitFactory(name="Strandskolan", kind=SchoolUnit.Kind.COMPULSORY)
    baseline = _deploy("special_support")

    first = demo_history_load(now=NOW)

    pilot = ProcessVersion.objects.get(definition__key="special_support", number=first.pilot_version)
    assert pilot.changelog == PILOT_CHANGELOG and pilot.status == "published"
    assert first.cases > 150 and first.tasks > first.cases
    assert not ProcessInstance.objects.exclude(status="completed").exists()
    assert not UserTask.objects.exclude(status="completed").exists()
    assert UserTask.objects.filter(completed_at__gt=NOW).count() == 0
    filters = DashboardFilters(
        baseline.definition, None, date_from=datetime(2026, 8, 1).date(), date_to=NOW.date()
    )
    comparison = pilot_compare(filters, baseline, pilot)
    assert comparison.conclusive and comparison.difference_days < 0

    second = demo_history_load(now=NOW)
    assert (second.cases, second.tasks) == (0, 0)


def test_the_command_reports_what_it_wrote(db, capsys):
    call_command("load_demo_history")
    assert "Demo history: 0 cases" in capsys.readouterr().out


def test_demo_history_covers_every_process_for_a_year_with_a_bottleneck(db):
    for name in ("Ekbackeskolan", "Strandskolan", "Tallåsskolan"):
        SchoolUnitFactory(name=name, kind=SchoolUnit.Kind.COMPULSORY)
    SchoolUnitFactory(name="Gläntans förskola", kind=SchoolUnit.Kind.PRESCHOOL)
    SchoolUnitFactory(name="Hamngymnasiet", kind=SchoolUnit.Kind.UPPER_SECONDARY)
    deployed = [_deploy(folder.name) for folder in process_library_folders()]

    started = time.perf_counter()
    result = demo_history_load(now=NOW)
    seconds = time.perf_counter() - started

    assert seconds < 20
    assert 2000 <= result.cases <= 6000 and result.tasks > 3 * result.cases
    with_tasks = {v.definition.key for v in deployed if main_user_tasks(v)}
    seeded = set(
        ProcessInstance.objects.filter(subject__startswith="HIST-").values_list(
            "version__definition__key", flat=True
        )
    )
    assert seeded == with_tasks and len(seeded) >= 6
    first = ProcessInstance.objects.order_by("started_at").values_list("started_at", flat=True).first()
    assert NOW - first > timedelta(days=330)

    special = next(v for v in deployed if v.definition.key == "special_support")
    filters = DashboardFilters(
        special.definition, None, date_from=(NOW - timedelta(days=365)).date(), date_to=NOW.date()
    ).with_versions(special.pk)
    slow = bottleneck_unit()
    lanes = {s.lane for s in step_times(filters)}
    assert "student_health" in lanes
    others = [u.pk for u in SchoolUnit.objects.filter(kind=SchoolUnit.Kind.COMPULSORY).exclude(pk=slow.pk)]

    def student_health_median(unit_ids: list[int]) -> float:
        narrowed = DashboardFilters(
            special.definition, unit_ids, None, filters.versions, filters.date_from, NOW.date()
        )
        waits = [s.waiting.median for s in step_times(narrowed) if s.lane == "student_health"]
        return max(w for w in waits if w is not None)

    assert student_health_median([slow.pk]) > 2 * student_health_median(others)
