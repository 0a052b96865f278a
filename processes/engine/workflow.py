"""Running instances: start, complete user tasks, fire timers, correlate messages, dump/load.

All times are UTC-aware. SpiffWorkflow reads the clock itself (``datetime.now(timezone.utc)``);
every ``now=`` argument here is honoured by freezing that clock for the duration of the call
(see clock.py), and tests may move the real clock with time-machine instead.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from . import clock
from .bundle import TIMER_KINDS, Bundle
from .errors import EngineError, ExpressionError
from .expressions import RestrictedScriptEngine, evaluate, measure
from .serializer import BY_REFERENCE, STATE_FORMAT


class _DecisionSyntaxError(SyntaxError):
    """The restricted evaluator's syntax verdict, as the SyntaxError SpiffWorkflow's DMNEngine expects."""

    def __init__(self, error: ExpressionError) -> None:
        super().__init__(error.message)
        self.error = error


class EngineScriptEngine(RestrictedScriptEngine):
    """The restricted script engine plus what SpiffWorkflow's DMNEngine expects of ``validate``.

    DMNEngine (the only caller of ``validate``) tries a rule's input entry as an expression and, on
    SyntaxError, as an operator-first test (``>= 4`` → ``score >= 4``). Every evaluation still goes
    through the restricted evaluator; ``validate`` evaluates nothing.
    """

    def validate(self, expression: str) -> None:
        try:
            super().validate(expression)
        except ExpressionError as exc:
            if exc.code == "expression_syntax":
                raise _DecisionSyntaxError(exc) from None
            raise


def _expression_error_in(exc: BaseException) -> ExpressionError | None:
    """The restricted evaluator's refusal behind a SpiffWorkflow error (DMN rules wrap it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ExpressionError):
            return current
        if isinstance(current, _DecisionSyntaxError):
            return current.error
        current = current.__cause__ or current.__context__
    return None


SCRIPT_ENGINE = EngineScriptEngine()
STATE_VERSION = f"{STATE_FORMAT}+spiff-serializer-{BY_REFERENCE.VERSION}"


@dataclass(frozen=True)
class UserTaskInfo:
    """A READY user or manual task, as the platform's inbox needs it."""

    task_id: str
    element_id: str
    name: str | None
    lane: str | None
    form: str | None
    data: dict[str, Any] = field(repr=False)
    due_at: datetime | None = None
    process_id: str | None = None


@dataclass(frozen=True)
class TimerInfo:
    """A waiting timer; the platform indexes ``due_at`` so only due instances are woken."""

    task_id: str
    element_id: str
    element_name: str | None
    due_at: datetime | None
    kind: str
    attached_to: str | None


def _due_at(task: Any) -> datetime | None:
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(value, dict):  # cycle timers keep {"next": iso, ...}
        value = value.get("next")
    if not isinstance(value, str) or value.upper().startswith("P"):
        return None
    return datetime.fromisoformat(TimerEventDefinition.get_datetime(value).isoformat()).astimezone(UTC)


def _json_data(data: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise EngineError("invalid_data", f"{what} must be a mapping with string keys")
    try:
        measure(dict(data))
    except ExpressionError as exc:
        raise EngineError("invalid_data", f"{what}: {exc.message}") from None
    return copy.deepcopy(dict(data))


def _event_parts(task: Any) -> list[tuple[Any, Any]]:
    """(event definition, catch-event spec) pairs a WAITING task listens for.

    An event-based gateway waits on behalf of its branches: SpiffWorkflow moves each branch's event
    definition onto the gateway (in the order of its outputs), so the gateway task is what waits.
    """
    spec = task.task_spec
    definition = spec.event_definition
    if isinstance(definition, MultipleEventDefinition):
        return list(zip(definition.event_definitions, spec.outputs, strict=False))
    return [(definition, spec)]


class Workflow:
    """One process instance. Never share between threads; load, act, dump, discard."""

    def __init__(
        self, bundle: Bundle, workflow: BpmnWorkflow, history: list[dict[str, Any]] | None = None
    ) -> None:
        self.bundle = bundle
        self._wf = workflow
        self._history = history or []

    state_version: str = STATE_VERSION

    @contextlib.contextmanager
    def _boundary(self, now: datetime | None = None) -> Iterator[None]:
        try:
            with clock.frozen(now):
                yield
        except EngineError as exc:
            if exc.element_id and exc.lane is None:
                exc.lane = self.bundle.lane_of(exc.element_id)
            raise
        except SpiffWorkflowException as exc:
            spec = getattr(exc, "task_spec", None)
            task = getattr(exc, "task", None)
            element_id = getattr(spec, "bpmn_id", None)
            process_id = task.workflow.spec.name if task is not None else None
            refused = _expression_error_in(exc)
            if refused is not None:
                # e.g. a DMN rule refused by the restricted evaluator: report the refusal, on the task.
                refused.element_id = refused.element_id or element_id
                refused.element_name = refused.element_name or getattr(spec, "bpmn_name", None)
                if refused.element_id and refused.lane is None:
                    refused.lane = self.bundle.lane_of(refused.element_id, process_id)
                raise refused from None
            expression = getattr(exc, "error_line", None) or None
            raise EngineError(
                "engine_error",
                str(exc),
                element_id=element_id,
                element_name=getattr(spec, "bpmn_name", None),
                lane=self.bundle.lane_of(element_id, process_id) if element_id else None,
                expression=expression,
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            # SpiffWorkflow raises bare exceptions for e.g. an invalid ISO duration computed at run time.
            raise EngineError("engine_error", f"{type(exc).__name__}: {exc}") from exc

    def _run_engine(self) -> None:
        self._wf.do_engine_steps()

    def _process_of(self, task: Any) -> str:
        return str(task.workflow.spec.name)

    def _boundary_due(self, task: Any) -> datetime | None:
        parent = task.parent
        if parent is None or not parent.task_spec.name.endswith(".BoundaryEventSplit"):
            return None
        dues = [
            _due_at(sibling)
            for sibling in parent.children
            if sibling is not task
            and sibling.state == TaskState.WAITING
            and isinstance(getattr(sibling.task_spec, "event_definition", None), TimerEventDefinition)
        ]
        known = [d for d in dues if d is not None]
        return min(known) if known else None

    # -- reading ---------------------------------------------------------------------------
    @property
    def is_completed(self) -> bool:
        return bool(self._wf.is_completed())

    @property
    def data(self) -> dict[str, Any]:
        """Instance data as of the last step (the workflow data once completed)."""
        merged = dict(self._wf.data)
        if not self._wf.is_completed():
            # Tree order is causal order along each path; merging covers parallel branches too.
            for task in self._wf.get_tasks(state=TaskState.COMPLETED):
                if task.workflow is self._wf:
                    merged.update(task.data)
        merged.pop("data_objects", None)
        return copy.deepcopy(merged)

    def ready_user_tasks(self) -> list[UserTaskInfo]:
        """READY user/manual tasks, including those inside called processes."""
        result = []
        for task in self._wf.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            process_id = self._process_of(task)
            node = self.bundle.node(spec.bpmn_id, process_id) or {}
            result.append(
                UserTaskInfo(
                    task_id=str(task.id),
                    element_id=spec.bpmn_id,
                    name=spec.bpmn_name,
                    lane=self.bundle.lane_of(spec.bpmn_id, process_id),
                    form=node.get("form"),
                    data=copy.deepcopy(task.data),
                    due_at=self._boundary_due(task),
                    process_id=process_id,
                )
            )
        return result

    def waiting_timers(self) -> list[TimerInfo]:
        result = []
        for task in list(self._wf.event_manager.tasks.values()):
            if task.state != TaskState.WAITING:
                continue
            for definition, spec in _event_parts(task):
                if not isinstance(definition, TimerEventDefinition):
                    continue
                node = self.bundle.node(spec.bpmn_id, self._process_of(task)) or {}
                result.append(
                    TimerInfo(
                        task_id=str(task.id),
                        element_id=spec.bpmn_id,
                        element_name=spec.bpmn_name,
                        due_at=_due_at(task),
                        kind=TIMER_KINDS.get(node.get("type", ""), "intermediate"),
                        attached_to=node.get("attached_to"),
                    )
                )
        return sorted(result, key=lambda t: (t.due_at is None, t.due_at or datetime.max.replace(tzinfo=UTC)))

    def waiting_messages(self) -> list[dict[str, Any]]:
        """Message catch events waiting: task_id, element_id, element_name, name, correlation_properties."""
        return [
            {
                "task_id": str(t.id),
                "element_id": spec.bpmn_id,
                "element_name": spec.bpmn_name,
                "name": definition.name,
                "process_id": self._process_of(t),
                "correlation_properties": [p.name for p in definition.correlation_properties],
            }
            for t, definition, spec in self._waiting_message_tasks()
        ]

    def completed_end_events(self) -> list[str]:
        """End events reached, in order, including those of called processes."""
        ends = [t for t in self._wf.get_tasks(state=TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)]
        return [t.task_spec.bpmn_id for t in sorted(ends, key=lambda t: t.last_state_change)]

    def history(self) -> list[dict[str, Any]]:
        """Completed user/manual tasks in order: task_id, element_id, lane, keys of the submitted data."""
        return copy.deepcopy(self._history)

    # -- acting ----------------------------------------------------------------------------
    def complete_user_task(
        self, task_id: str, data: Mapping[str, Any], *, now: datetime | None = None
    ) -> None:
        """Merge form data into the task, complete it and run the engine until it waits.

        Raises EngineError ``task_not_ready`` for an unknown, non-READY or non-human task (a double
        submit therefore fails cleanly), ``invalid_data`` for non-JSON data, and EngineError /
        ExpressionError naming the element when a later step fails. On error the in-memory instance
        is unusable: discard it and do not save (the platform's transaction rolls back).
        """
        payload = _json_data(data, "form data")
        with self._boundary(now):
            try:
                task = self._wf.get_task_from_id(UUID(str(task_id)))
            except (TaskNotFoundException, ValueError):
                task = None
            if task is None or task.state != TaskState.READY or not task.task_spec.manual:
                raise EngineError("task_not_ready", f"task {task_id} is not a ready user task")
            task.set_data(**payload)
            task.run()
            self._history.append(
                {
                    "task_id": str(task.id),
                    "element_id": task.task_spec.bpmn_id,
                    "lane": self.bundle.lane_of(task.task_spec.bpmn_id, self._process_of(task)),
                    "data_keys": sorted(payload),
                }
            )
            self._run_engine()

    def fire_due_timers(self, now: datetime | None = None) -> list[str]:
        """Fire timers due at ``now`` (default: the clock) and run the engine; returns fired element ids."""
        with self._boundary(now):
            waiting = [
                (t, [spec.bpmn_id for d, spec in _event_parts(t) if isinstance(d, TimerEventDefinition)])
                for t in self._wf.event_manager.tasks.values()
                if t.state == TaskState.WAITING
            ]
            self._wf.refresh_timers()
            fired = [element for t, timers in waiting if t.state != TaskState.WAITING for element in timers]
            self._run_engine()
        return fired

    def _waiting_message_tasks(self) -> list[tuple[Any, Any, Any]]:
        """(waiting task, message definition, catch-event spec) for every message being waited for."""
        return [
            (t, definition, spec)
            for t in list(self._wf.event_manager.tasks.values())
            if t.state == TaskState.WAITING
            for definition, spec in _event_parts(t)
            if isinstance(definition, MessageEventDefinition)
        ]

    def _correlates(
        self, task: Any, definition: Any, payload: Mapping[str, Any], supplied: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        known: dict[str, Any] = {}
        for values in task.workflow.correlations.values():
            known.update(values)
        expected = dict(task.data)
        expected.update(known)
        correlations: dict[str, dict[str, Any]] = {}
        checked = set()
        for prop in definition.correlation_properties:
            if prop.name in supplied:
                value = supplied[prop.name]
            else:
                try:
                    value = evaluate(prop.retrieval_expression, payload)
                except ExpressionError:
                    return None
            if prop.name in expected and expected[prop.name] != value:
                return None
            checked.add(prop.name)
            for key in prop.correlation_keys:
                correlations.setdefault(key, {})[prop.name] = value
        for name, value in supplied.items():
            # A correlation the model does not declare must still match the instance's data.
            if name not in checked and expected.get(name) != value:
                return None
        return correlations

    def send_message(
        self,
        name: str,
        payload: Mapping[str, Any],
        correlation: Mapping[str, Any] | None = None,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Deliver a message to a waiting catch event of this instance.

        ``correlation`` maps correlation property ids to values (default: computed from ``payload`` with
        the model's retrieval expressions). Returns False when no waiting event takes it - unknown
        name, other instance, or already delivered - and nothing is changed.
        """
        body = _json_data(payload, "message payload")
        supplied = dict(correlation or {})
        with self._boundary(now):
            for task, definition, _spec in self._waiting_message_tasks():
                if definition.name != name:
                    continue
                correlations = self._correlates(task, definition, body, supplied)
                if correlations is None:
                    continue
                # SpiffWorkflow recomputes correlations from the payload when catching; give it the values.
                event_payload = {**{k: v for k, v in supplied.items() if k not in body}, **body}
                event = BpmnEvent(definition, payload=event_payload, correlations=correlations)
                if not task.task_spec.catches(task, event):
                    continue
                if getattr(definition, "message_var", None) is None:
                    task.set_data(**event_payload)
                task.task_spec.catch(task, event)
                task.task_spec._update(task)
                self._run_engine()
                return True
        return False

    # -- persistence -----------------------------------------------------------------------
    def dump_state(self) -> dict[str, Any]:
        """JSON-able state referencing the bundle's spec instead of embedding it."""
        try:
            workflow = BY_REFERENCE.to_dict(self._wf)
        except WorkflowException as exc:
            raise EngineError("engine_error", f"cannot serialize instance: {exc}") from exc
        return {
            "format": STATE_FORMAT,
            "state_version": STATE_VERSION,
            "spec_ref": self.bundle.main_process_id,
            "workflow": workflow,
            "history": copy.deepcopy(self._history),
        }


def workflow_start(
    bundle: Bundle, data: Mapping[str, Any] | None = None, *, now: datetime | None = None
) -> Workflow:
    """Start an instance of the bundle's main process with ``data`` and run it until it waits."""
    initial = _json_data(data, "start data")
    workflow = Workflow(
        bundle, BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=SCRIPT_ENGINE)
    )
    with workflow._boundary(now):
        for task in workflow._wf.get_tasks(state=TaskState.READY):
            task.set_data(**copy.deepcopy(initial))
        workflow._run_engine()
    return workflow


def workflow_load(bundle: Bundle, state: Mapping[str, Any]) -> Workflow:
    """Rebuild an instance from :meth:`Workflow.dump_state` output and the bundle it was pinned to."""
    if state.get("format") != STATE_FORMAT or state.get("state_version") != STATE_VERSION:
        raise EngineError(
            "state_version_unsupported",
            f"state {state.get('state_version')!r} cannot be loaded by {STATE_VERSION!r}",
        )
    if state.get("spec_ref") != bundle.main_process_id:
        raise EngineError(
            "state_spec_mismatch",
            f"state belongs to {state.get('spec_ref')!r}, not {bundle.main_process_id!r}",
        )
    # SpiffWorkflow's converters pop keys from the dict they restore; never touch the caller's copy.
    workflow_dict = copy.deepcopy(dict(state["workflow"]))
    try:
        wf = BY_REFERENCE.from_dict(workflow_dict, spec=bundle.spec, subprocess_specs=bundle.subprocess_specs)
    except (SpiffWorkflowException, KeyError, ValueError, TypeError) as exc:
        raise EngineError("state_invalid", f"cannot restore instance: {exc}") from exc
    wf.script_engine = SCRIPT_ENGINE
    return Workflow(bundle, wf, list(state.get("history", [])))
