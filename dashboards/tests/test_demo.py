"""load_demo_history: months of completed cases, a special support pilot that waits less, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management import call_command

from dashboards.selectors.pilots import pilot_compare
from dashboards.selectors.scope import DashboardFilters
from dashboards.services.demo import PILOT_CHANGELOG, demo_history_load
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
