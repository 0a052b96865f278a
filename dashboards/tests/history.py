"""Projection history for dashboard tests: cases and their tasks written directly, with times in days
after T0 (a Monday morning), as the dashboards read them."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dashboards.selectors.scope import DashboardFilters
from processes.models import ProcessInstance, ProcessVersion
from tasks.models import UserTask

# In UTC: adding days to a Stockholm wall-clock time would lose an hour at the end of March.
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
PERIOD = (date(2026, 3, 1), date(2026, 6, 30))
_ids = itertools.count(1)


def at(days: float | None) -> datetime | None:
    return None if days is None else T0 + timedelta(days=days)


@dataclass
class Step:
    element_id: str
    lane: str
    ready: float
    claimed: float | None
    completed: float | None
    due: float | None = None
    guardian_id: int | None = None


def case(
    version: ProcessVersion, unit, started: float, completed: float | None, steps: list[Step]
) -> ProcessInstance:
    instance = ProcessInstance.objects.create(
        id=uuid.uuid4(),
        version=version,
        unit=unit,
        subject=f"TEST-{next(_ids)}",
        status=ProcessInstance.Status.COMPLETED if completed is not None else ProcessInstance.Status.RUNNING,
        started_at=at(started),
        completed_at=at(completed),
    )
    UserTask.objects.bulk_create(
        UserTask(
            instance=instance,
            engine_task_id=str(uuid.uuid4()),
            element_id=s.element_id,
            name=s.element_id.replace("_", " ").capitalize(),
            lane=s.lane,
            unit=unit,
            status=UserTask.Status.COMPLETED if s.completed is not None else UserTask.Status.OPEN,
            ready_at=at(s.ready),
            claimed_at=at(s.claimed),
            completed_at=at(s.completed),
            due_at=at(s.due),
            guardian_id=s.guardian_id,
        )
        for s in steps
    )
    return instance


def filters_for(version: ProcessVersion, units: list[int] | None = None, **kwargs) -> DashboardFilters:
    return DashboardFilters(version.definition, units, date_from=PERIOD[0], date_to=PERIOD[1], **kwargs)
