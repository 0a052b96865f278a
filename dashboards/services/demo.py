"""A year of synthetic history so the dashboards tell a story on first start.

Synthetic projection data, said plainly: completed cases (ProcessInstance) and their user tasks
(UserTask) are written with historical timestamps by bulk_create. No engine state is written (the cases
are completed, with an empty state, so nothing will ever load them) and no audit events (the audit chain
records what really happened; this did not happen). Each case walks its version's model from the start
event: a random branch at exclusive gateways, every branch of a parallel gateway, now and then a step
done again (rework). Every deployed process whose main process has user tasks gets cases (steps, names
and roles read from the deployed version), fewer in the summer holidays. Waits are drawn per role; at one
unit (the first compulsory school by code) student health and the principal are understaffed and wait
about three and two times as long: the bottleneck the dashboards should show. Special support version 2,
a pilot deployed with a changelog, waits less at the principal and student health. Idempotent: every
case's subject starts with HIST-, and a version with such cases is left alone.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from organisation.models import SchoolUnit
from processes.models import ProcessInstance, ProcessVersion
from processes.services.bundles import bundle_for_version
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask

SEED = 2026
HISTORY_DAYS = 365
SUBJECT_PREFIX = "HIST-"
# Median waiting days per role (log-normal, so a long tail: some cases wait weeks).
WAIT_DAYS = {
    "teacher": 1.5,
    "principal": 3.0,
    "student_health": 5.0,
    "guardian": 2.5,
    "pupil": 2.0,
    "governing_body": 1.0,
    "placement_office": 6.0,
    "school_admin": 1.0,
}
PILOT_WAIT_FACTOR = {"principal": 0.5, "student_health": 0.55}
BOTTLENECK_WAIT_FACTOR = {"student_health": 3.0, "principal": 2.0}
# Relative case volume per calendar month: the school year, quiet in July.
MONTH_WEIGHT = {
    1: 1.0,
    2: 1.0,
    3: 1.1,
    4: 1.0,
    5: 1.0,
    6: 0.6,
    7: 0.15,
    8: 0.7,
    9: 1.2,
    10: 1.1,
    11: 1.1,
    12: 0.8,
}
PILOT_CHANGELOG = (
    "Pilot: rektor tar emot anmälan och ger utredningsuppdrag samma vecka; elevhälsan har en fast "
    "utredningstid varje vecka. Påminnelse om utredning efter 3 arbetsdagar i stället för 5."
)
# Cases over the year per process key, and the unit kinds it runs at; a deployed process not named here
# gets DEFAULT_CASES at compulsory and upper secondary schools.
PLAN = {
    "special_support": (520, (SchoolUnit.Kind.COMPULSORY,)),
    "offensive_treatment": (380, (SchoolUnit.Kind.COMPULSORY, SchoolUnit.Kind.UPPER_SECONDARY)),
    "problematic_absence": (320, (SchoolUnit.Kind.COMPULSORY, SchoolUnit.Kind.UPPER_SECONDARY)),
    "enrolment": (300, (SchoolUnit.Kind.COMPULSORY,)),
    "preschool_placement": (260, (SchoolUnit.Kind.PRESCHOOL,)),
    "transfer": (220, (SchoolUnit.Kind.COMPULSORY, SchoolUnit.Kind.UPPER_SECONDARY)),
    "school_start": (200, (SchoolUnit.Kind.COMPULSORY,)),
    "appeal": (60, (SchoolUnit.Kind.COMPULSORY,)),
    "quality_work": (40, tuple(SchoolUnit.Kind)),
}
DEFAULT_CASES = 150
DEFAULT_KINDS = (SchoolUnit.Kind.COMPULSORY, SchoolUnit.Kind.UPPER_SECONDARY)
# The pilot runs the last six months, next to the baseline.
PILOT_CASES = 260


@dataclass(frozen=True)
class DemoHistory:
    cases: int
    tasks: int
    pilot_version: int | None


def _due(ready: datetime, expression: str | None) -> datetime:
    """Due time from a boundary timer's expression, roughly: working days skip weekends only."""
    text = (expression or '"P5D"').strip().strip('"')
    if text.startswith("working_days("):
        days = int(text[len("working_days(") : -1])
        due = ready
        while days:
            due += timedelta(days=1)
            if due.weekday() < 5:
                days -= 1
        return due.replace(hour=17, minute=0)
    units = {"D": 1, "W": 7, "M": 30}
    if text.startswith("P") and text[1:-1].isdigit() and text[-1] in units:
        return ready + timedelta(days=int(text[1:-1]) * units[text[-1]])
    return ready + timedelta(days=5)


def _path(bundle: Any, rng: random.Random) -> list[str]:
    """User task ids in the order a case could meet them, walking the main process's flows."""
    main = bundle.main_process_id
    nodes = {n["id"]: n for n in bundle.model["nodes"] if n["process"] == main}
    outgoing: dict[str, list[dict]] = {}
    for flow in bundle.model["flows"]:
        if flow["process"] == main:
            outgoing.setdefault(flow["source"], []).append(flow)
    start = next(n["id"] for n in nodes.values() if n["type"] == "startEvent" and n["parent"] == main)
    path: list[str] = []
    visits: dict[str, int] = {}
    stack = [start]
    while stack and len(path) < 25:
        current = stack.pop()
        visits[current] = visits.get(current, 0) + 1
        node = nodes.get(current)
        if node is None:
            continue
        if node["type"] in ("userTask", "manualTask"):
            path.append(current)
        flows = outgoing.get(current, [])
        if node["type"] == "parallelGateway" and len(flows) > 1:
            stack.extend(f["target"] for f in reversed(flows) if visits.get(f["target"], 0) == 0)
            continue
        # A loop back is taken at most once (one round of rework), forward flows are preferred.
        fresh = [f for f in flows if visits.get(f["target"], 0) == 0]
        looping = [f for f in flows if 0 < visits.get(f["target"], 0) < 2]
        if looping and rng.random() < 0.12:
            stack.append(rng.choice(looping)["target"])
        elif fresh:
            default = [f for f in fresh if f["id"] == node.get("default")]
            chosen = default[0] if default and rng.random() < 0.6 else rng.choice(fresh)
            stack.append(chosen["target"])
    return path


def main_user_tasks(version: ProcessVersion) -> dict[str, dict]:
    bundle = bundle_for_version(version)
    return {t["element_id"]: t for t in bundle.user_tasks() if t["process_id"] == bundle.main_process_id}


def _case_rows(
    version: ProcessVersion,
    unit: SchoolUnit,
    started: datetime,
    index: int,
    rng: random.Random,
    pilot: bool,
    bottleneck: bool,
) -> tuple[ProcessInstance, list[UserTask]]:
    bundle = bundle_for_version(version)
    tasks_by_id = main_user_tasks(version)
    instance = ProcessInstance(
        id=uuid.UUID(int=rng.getrandbits(128)),
        version=version,
        unit=unit,
        subject=f"{SUBJECT_PREFIX}{version.definition.key}-v{version.number}-{index:04d}",
        status=ProcessInstance.Status.COMPLETED,
        state={},
        started_at=started,
    )
    rows = []
    clock = started
    for step, element_id in enumerate(_path(bundle, rng)):
        task = tasks_by_id.get(element_id)
        if task is None:
            continue
        lane = task["lane"] or "teacher"
        factor = PILOT_WAIT_FACTOR.get(lane, 1.0) if pilot else 1.0
        if bottleneck:
            factor *= BOTTLENECK_WAIT_FACTOR.get(lane, 1.0)
        ready = clock + timedelta(minutes=rng.randint(1, 90))
        wait = timedelta(days=rng.lognormvariate(0, 0.8) * WAIT_DAYS.get(lane, 2.0) * factor)
        work = timedelta(hours=rng.uniform(0.3, 5.0))
        claimed = ready + wait if lane not in ("guardian", "pupil") and rng.random() < 0.85 else None
        completed = (claimed or ready + wait) + (work if claimed else timedelta(minutes=rng.randint(5, 60)))
        timer = (task["boundary_timers"] or [{}])[0]
        rows.append(
            UserTask(
                instance=instance,
                engine_task_id=str(uuid.UUID(int=rng.getrandbits(128))),
                element_id=element_id,
                name=task["name"] or element_id,
                lane=lane,
                unit=unit,
                form_name=task.get("form") or "",
                status=UserTask.Status.COMPLETED,
                ready_at=ready,
                due_at=_due(ready, timer.get("expression")),
                claimed_at=claimed,
                completed_at=completed,
            )
        )
        clock = completed
        del step
    instance.completed_at = clock + timedelta(minutes=rng.randint(1, 30))
    return instance, rows


def _pilot_version(baseline: ProcessVersion) -> ProcessVersion:
    folder = next(p for p in process_library_folders() if p.name == "special_support")
    files = bundle_files_from_folder(folder)
    model = files.files["special_support.bpmn"]
    pilot_model = model.replace("working_days(5)", "working_days(3)", 1)
    bundle = type(files)(
        manifest=files.manifest, files={**files.files, "special_support.bpmn": pilot_model}, forms=files.forms
    )
    version, _created = process_version_deploy(bundle, changelog=PILOT_CHANGELOG)
    if version.status == ProcessVersion.Status.DRAFT:
        version = process_version_publish(version)
    return version


def _start_time(rng: random.Random, since: datetime, span: float) -> datetime:
    """A case start in [since, since + 0.95 span), on a weekday in office hours, by MONTH_WEIGHT."""
    top = max(MONTH_WEIGHT.values())
    while True:
        started = since + timedelta(seconds=rng.uniform(0, span * 0.95))
        if started.weekday() < 5 and rng.random() < MONTH_WEIGHT[started.month] / top:
            return started.replace(hour=rng.randint(8, 15), minute=rng.randint(0, 59))


def _seed_version(
    version: ProcessVersion,
    units: list[SchoolUnit],
    cases: int,
    since: datetime,
    now: datetime,
    pilot: bool,
    bottleneck: SchoolUnit | None,
) -> tuple[int, int]:
    if ProcessInstance.objects.filter(version=version, subject__startswith=SUBJECT_PREFIX).exists():
        return 0, 0
    rng = random.Random(f"{SEED}-{version.definition.key}-{version.number}")
    instances, tasks = [], []
    span = (now - since).total_seconds()
    for index in range(cases):
        started = _start_time(rng, since, span)
        unit = rng.choice(units)
        instance, rows = _case_rows(version, unit, started, index, rng, pilot, unit == bottleneck)
        if instance.completed_at >= now or not rows:
            continue  # would still be running: history holds completed cases only
        instances.append(instance)
        tasks += rows
    with transaction.atomic():
        ProcessInstance.objects.bulk_create(instances, batch_size=500)
        UserTask.objects.bulk_create(tasks, batch_size=1000)
    return len(instances), len(tasks)


def bottleneck_unit() -> SchoolUnit | None:
    """The unit whose student health and principal are understaffed in the demo history."""
    return SchoolUnit.objects.filter(kind=SchoolUnit.Kind.COMPULSORY).order_by("code").first()


def demo_history_load(now: datetime | None = None) -> DemoHistory:
    """Seed a year of completed cases for every deployed process with user tasks (the process library
    must be deployed: load_demo_cases does that). Returns how many cases and tasks were written this
    time."""
    now = now or timezone.now()
    since = now - timedelta(days=HISTORY_DAYS)
    bottleneck = bottleneck_unit()
    total_cases = total_tasks = 0
    pilot_number = None
    baselines: dict[str, ProcessVersion] = {}
    for version in (
        ProcessVersion.objects.filter(status=ProcessVersion.Status.PUBLISHED)
        .select_related("definition")
        .order_by("definition__key", "number")
    ):
        baselines.setdefault(version.definition.key, version)
    for key, version in baselines.items():
        if not main_user_tasks(version):
            continue
        cases, kinds = PLAN.get(key, (DEFAULT_CASES, DEFAULT_KINDS))
        units = list(SchoolUnit.objects.filter(kind__in=kinds).order_by("code"))
        if not units:
            continue
        n_cases, n_tasks = _seed_version(version, units, cases, since, now, False, bottleneck)
        total_cases, total_tasks = total_cases + n_cases, total_tasks + n_tasks
        if key == "special_support":
            pilot = _pilot_version(version)
            pilot_number = pilot.number
            pilot_since = now - timedelta(days=HISTORY_DAYS // 2)
            n_cases, n_tasks = _seed_version(pilot, units, PILOT_CASES, pilot_since, now, True, bottleneck)
            total_cases, total_tasks = total_cases + n_cases, total_tasks + n_tasks
    return DemoHistory(cases=total_cases, tasks=total_tasks, pilot_version=pilot_number)
