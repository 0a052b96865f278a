"""Moving a running instance onto another version of its process, where SpiffWorkflow's diff says it is safe.

Safe means: every task the instance is at (READY, WAITING or STARTED, in the main process and in every
called process it has entered) exists in the target version under the same id and with unchanged
attributes. Completed history is re-pointed to the aligned specs; only READY tasks are re-predicted
(a WAITING timer keeps its due time, a ready user task keeps its task id and so its inbox entry).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .bundle import Bundle
from .errors import EngineError
from .serializer import BY_REFERENCE
from .workflow import Workflow, workflow_load

_CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass(frozen=True)
class MigrationReport:
    """Whether an instance can move, and if not, which current steps stop it (element id → reason)."""

    safe: bool
    current: list[str] = field(default_factory=list)
    blocking: dict[str, str] = field(default_factory=dict)


def _check(diff: Any, process_id: str, blocking: dict[str, str], current: list[str]) -> None:
    removed = {id(t) for t in diff.removed}
    changed = {id(t) for t in diff.changed}
    for task in diff.alignment.keys() | set(diff.removed):
        if not task.has_state(_CURRENT) or task.task_spec.name.startswith(("Root", "Start", "End")):
            continue
        element = getattr(task.task_spec, "bpmn_id", None)
        if element is None:
            continue
        current.append(element)
        if id(task) in removed:
            blocking[element] = "removed"
        elif id(task) in changed:
            blocking[element] = "changed"


def _diff(workflow: Workflow, target: Bundle) -> tuple[Any, dict[str, Any], MigrationReport]:
    wf = workflow._wf
    registry = BY_REFERENCE.registry
    dependencies = dict(target.subprocess_specs)
    top, subs = diff_workflow(registry, wf, target.spec, dependencies)
    blocking: dict[str, str] = {}
    current: list[str] = []
    _check(top, wf.spec.name, blocking, current)
    for sp_id, sub_diff in subs.items():
        sub = wf.subprocesses[sp_id]
        if sub_diff is None:
            if not sub.is_completed():
                blocking[sub.spec.name] = "called_process_removed"
            continue
        _check(sub_diff, sub.spec.name, blocking, current)
    report = MigrationReport(safe=not blocking, current=sorted(set(current)), blocking=blocking)
    return top, subs, report


def workflow_migration_check(source: Bundle, target: Bundle, state: Mapping[str, Any]) -> MigrationReport:
    """Whether the instance in ``state`` (pinned to ``source``) can move to ``target``; changes nothing."""
    workflow = workflow_load(source, state)
    try:
        return _diff(workflow, target)[2]
    except (SpiffWorkflowException, KeyError, ValueError, AttributeError) as exc:
        return MigrationReport(safe=False, blocking={"": f"diff failed: {exc}"})


def workflow_migrate(
    source: Bundle, target: Bundle, state: Mapping[str, Any]
) -> tuple[dict[str, Any], MigrationReport]:
    """Move the instance onto ``target``; returns (new state, report).

    Raises EngineError ``migration_unsafe`` naming the blocking elements when the report is not safe;
    the caller's state is never modified.
    """
    if source.main_process_id != target.main_process_id:
        raise EngineError("migration_unsafe", "the versions run different main processes")
    workflow = workflow_load(source, copy.deepcopy(dict(state)))
    try:
        top, subs, report = _diff(workflow, target)
        if not report.safe:
            raise EngineError(
                "migration_unsafe",
                "; ".join(f"{element or '?'}: {why}" for element, why in sorted(report.blocking.items())),
                element_id=next(iter(sorted(report.blocking)), None),
            )
        wf = workflow._wf
        migrate_workflow(top, wf, target.spec, reset_mask=TaskState.READY)
        for sp_id, sub_diff in subs.items():
            sub = wf.subprocesses[sp_id]
            if sub_diff is not None:
                migrate_workflow(
                    sub_diff, sub, target.subprocess_specs[sub.spec.name], reset_mask=TaskState.READY
                )
        wf.subprocess_specs = dict(target.subprocess_specs)
        moved = Workflow(target, wf, workflow.history())
        moved._run_engine()
        return moved.dump_state(), report
    except SpiffWorkflowException as exc:
        raise EngineError("migration_failed", f"the engine could not move the instance: {exc}") from exc
