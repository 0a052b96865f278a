"""Is every case whole? A read-only check to run after an incident (a worker killed, the database
restarted) and after a load test: nothing lost, nothing applied twice, the audit chain intact.

Each rule compares two records that are written in the same transaction and so must always agree:
the engine state with its projection (open tasks, waiting timers), the projection with the audit
trail (one `task.ready` per task, one `task.completed` per completed task, one `instance.started`
per case), and a bulk start with the cases it made. A disagreement means a step was lost or
applied twice; the report names each one so an operator can look at the case.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count

from audit.models import AuditEvent, Verb
from audit.services import audit_chain_verify
from dashboards.services.demo import SUBJECT_PREFIX as SYNTHETIC_HISTORY_PREFIX
from processes.models import BulkStart, ProcessInstance, WaitingTimer
from processes.services.instances import instance_workflow
from tasks.models import UserTask


# The demo's synthetic history (dashboards/services/demo.py) is projection rows only, on purpose without
# engine state or audit events: nothing happened to check.
def _cases() -> Any:
    return ProcessInstance.objects.exclude(subject__startswith=SYNTHETIC_HISTORY_PREFIX)


def _tasks() -> Any:
    return UserTask.objects.exclude(instance__subject__startswith=SYNTHETIC_HISTORY_PREFIX)


# A broken deployment can disagree on every row; the report keeps the first of each kind readable.
MAX_LISTED_PER_RULE = 50


@dataclass(frozen=True)
class Inconsistency:
    rule: str
    detail: str
    instance_id: str = ""
    user_task_id: int | None = None


@dataclass
class ConsistencyReport:
    instances: int = 0
    user_tasks: int = 0
    audit_events: int = 0
    instances_in_error: int = 0
    problems: list[Inconsistency] = field(default_factory=list)
    problem_counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problem_counts

    def add(self, rule: str, detail: str, *, instance_id: Any = "", user_task_id: int | None = None) -> None:
        self.problem_counts[rule] += 1
        if self.problem_counts[rule] <= MAX_LISTED_PER_RULE:
            self.problems.append(Inconsistency(rule, detail, str(instance_id or ""), user_task_id))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "instances": self.instances,
            "user_tasks": self.user_tasks,
            "audit_events": self.audit_events,
            "instances_in_error": self.instances_in_error,
            "problem_counts": dict(self.problem_counts),
            "problems": [problem.__dict__ for problem in self.problems],
        }


def _event_counts(verbs: list[str], key: str) -> dict[tuple[Any, str], int]:
    rows = (
        AuditEvent.objects.filter(verb__in=verbs)
        .values(key, "verb")
        .annotate(n=Count("id"))
        .values_list(key, "verb", "n")
    )
    return {(value, verb): n for value, verb, n in rows}


def _check_tasks_against_audit(report: ConsistencyReport) -> None:
    verbs = [Verb.TASK_READY, Verb.TASK_COMPLETED, Verb.TASK_CANCELLED]
    counts = _event_counts(verbs, "user_task_id")
    expected_final = {
        UserTask.Status.OPEN: {Verb.TASK_COMPLETED: 0, Verb.TASK_CANCELLED: 0},
        UserTask.Status.COMPLETED: {Verb.TASK_COMPLETED: 1, Verb.TASK_CANCELLED: 0},
        UserTask.Status.CANCELLED: {Verb.TASK_COMPLETED: 0, Verb.TASK_CANCELLED: 1},
    }
    known: set[int] = set()
    for task_id, instance_id, status in (
        _tasks().values_list("id", "instance_id", "status").iterator(chunk_size=5000)
    ):
        known.add(task_id)
        report.user_tasks += 1
        ready = counts.get((task_id, Verb.TASK_READY), 0)
        if ready != 1:
            report.add(
                "task_ready_events",
                f"{ready} task.ready events",
                instance_id=instance_id,
                user_task_id=task_id,
            )
        for verb, wanted in expected_final[status].items():
            seen = counts.get((task_id, verb), 0)
            if seen != wanted:
                report.add(
                    "task_final_events",
                    f"{status} task has {seen} {verb} events (expected {wanted})",
                    instance_id=instance_id,
                    user_task_id=task_id,
                )
    for task_id in sorted({task_id for task_id, _verb in counts} - known):
        report.add(
            "event_for_missing_task", "audit events name a task that no longer exists", user_task_id=task_id
        )


def _check_instances_against_audit(report: ConsistencyReport) -> None:
    counts = _event_counts([Verb.INSTANCE_STARTED, Verb.INSTANCE_COMPLETED], "instance_id")
    known: set[Any] = set()
    for instance_id, status in _cases().values_list("id", "status").iterator(chunk_size=5000):
        known.add(instance_id)
        report.instances += 1
        report.instances_in_error += status == ProcessInstance.Status.ERROR
        started = counts.get((instance_id, Verb.INSTANCE_STARTED), 0)
        if started != 1:
            report.add(
                "instance_started_events", f"{started} instance.started events", instance_id=instance_id
            )
        completed = counts.get((instance_id, Verb.INSTANCE_COMPLETED), 0)
        wanted = 1 if status == ProcessInstance.Status.COMPLETED else 0
        if completed != wanted:
            report.add(
                "instance_completed_events",
                f"{status} case has {completed} instance.completed events (expected {wanted})",
                instance_id=instance_id,
            )
    for instance_id in sorted({i for i, verb in counts if verb == Verb.INSTANCE_STARTED} - known, key=str):
        report.add(
            "event_for_missing_instance",
            "instance.started names a case that does not exist",
            instance_id=instance_id,
        )


def _check_projection_against_engine(report: ConsistencyReport) -> None:
    """The open tasks and waiting timers of a case are exactly what its engine state waits for."""
    open_tasks: dict[Any, list[str]] = defaultdict(list)
    for instance_id, engine_task_id in (
        _tasks().filter(status=UserTask.Status.OPEN).values_list("instance_id", "engine_task_id")
    ):
        open_tasks[instance_id].append(engine_task_id)
    timers: dict[Any, list[str]] = defaultdict(list)
    for instance_id, engine_task_id in WaitingTimer.objects.values_list("instance_id", "engine_task_id"):
        timers[instance_id].append(engine_task_id)

    finished = [ProcessInstance.Status.COMPLETED, ProcessInstance.Status.CANCELLED]
    for instance_id in _cases().filter(status__in=finished).values_list("id", flat=True):
        if open_tasks.get(instance_id) or timers.get(instance_id):
            report.add(
                "finished_case_still_waits", "a closed case has open tasks or timers", instance_id=instance_id
            )

    active = _cases().exclude(status__in=finished).select_related("version")
    for instance in active.iterator(chunk_size=500):
        workflow = instance_workflow(instance)
        ready = sorted(task.task_id for task in workflow.ready_user_tasks())
        if sorted(open_tasks.get(instance.pk, [])) != ready:
            report.add(
                "open_tasks_differ_from_engine",
                f"open tasks {sorted(open_tasks.get(instance.pk, []))} but the engine waits on {ready}",
                instance_id=instance.pk,
            )
        waiting = sorted(t.task_id for t in workflow.waiting_timers() if t.due_at is not None)
        if sorted(timers.get(instance.pk, [])) != waiting:
            report.add(
                "timers_differ_from_engine",
                f"{len(timers.get(instance.pk, []))} timer rows, the engine waits on {len(waiting)}",
                instance_id=instance.pk,
            )


def _check_bulk_starts(report: ConsistencyReport) -> None:
    made = dict(
        ProcessInstance.objects.filter(bulk_start__isnull=False)
        .values("bulk_start")
        .annotate(n=Count("id"))
        .values_list("bulk_start", "n")
    )
    for bulk in BulkStart.objects.only("id", "status", "started_count"):
        if made.get(bulk.pk, 0) != bulk.started_count:
            report.add(
                "bulk_start_count",
                f"bulk start {bulk.pk}: counted {bulk.started_count}, made {made.get(bulk.pk, 0)}",
            )


def consistency_check(*, engine_states: bool = True) -> ConsistencyReport:
    """Check every case, task, bulk start and the audit chain. Reads only; safe on a live system
    (a step committed mid-check can show up as a difference, so run it again before acting)."""
    report = ConsistencyReport()
    report.audit_events = AuditEvent.objects.count()
    broken_at = audit_chain_verify()
    if broken_at is not None:
        report.add("audit_chain_broken", f"the chain breaks at audit event {broken_at}")
    _check_instances_against_audit(report)
    _check_tasks_against_audit(report)
    if engine_states:
        _check_projection_against_engine(report)
    _check_bulk_starts(report)
    return report
