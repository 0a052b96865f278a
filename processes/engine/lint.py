"""Lint rules over the structural model (see documents.extract_model).

They run on the plain model, so they work before SpiffWorkflow has parsed anything (to report
every problem of an upload at once) and on a bundle restored from its stored spec.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

from .errors import ExpressionError, Problem
from .expressions import check_expression, evaluate

HUMAN_TASKS = frozenset({"userTask", "manualTask"})
DECISION_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})


def effective_lane(
    node: Mapping[str, Any], by_key: Mapping[tuple[str, str], Mapping[str, Any]]
) -> str | None:
    """A node's lane id; nodes inside an embedded sub-process take the sub-process's lane."""
    current: Mapping[str, Any] | None = node
    while current is not None:
        if current.get("lane"):
            return str(current["lane"])
        parent = current.get("parent")
        if parent == current.get("process"):
            return None
        current = by_key.get((str(current["process"]), str(parent)))
    return None


def _problem(code: str, message: str, node: Mapping[str, Any]) -> Problem:
    return Problem(code, message, node.get("id"), node.get("name"), node.get("file"))


def lint_model(model: Mapping[str, Any], forms: Mapping[str, Any] | None) -> list[Problem]:
    """All lint problems of the model; ``forms=None`` skips the form rules."""
    nodes: list[Mapping[str, Any]] = model["nodes"]
    by_key = {(n["process"], n["id"]): n for n in nodes}
    problems: list[Problem] = []
    problems += _lanes(nodes, by_key)
    problems += _reachability(model)
    problems += _gateways(model)
    problems += _timers(nodes)
    problems += _calls(model)
    problems += _decisions(model)
    if forms is not None:
        problems += _forms(nodes, forms)
    return problems


def _lanes(
    nodes: list[Mapping[str, Any]], by_key: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[Problem]:
    return [
        _problem("task_outside_lane", f"{n['type']} {n.get('name') or n['id']!r} is not in any lane", n)
        for n in nodes
        if n["type"] in HUMAN_TASKS and effective_lane(n, by_key) is None
    ]


def _reachability(model: Mapping[str, Any]) -> list[Problem]:
    successors: dict[tuple[str, str], list[str]] = defaultdict(list)
    for flow in model["flows"]:
        successors[(flow["process"], flow["source"])].append(flow["target"])
    by_container: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    attached: dict[tuple[str, str], list[str]] = defaultdict(list)
    for node in model["nodes"]:
        by_container[(node["process"], node["parent"])].append(node)
        if node.get("attached_to"):
            attached[(node["process"], node["attached_to"])].append(node["id"])

    reached: set[tuple[str, str]] = set()
    # Processes are entry points; sub-processes are entered only if their own node is reachable.
    pending: deque[tuple[str, str]] = deque((pid, pid) for pid in model["processes"])
    while pending:
        pid, container = pending.popleft()
        members = by_container.get((pid, container), [])
        queue = deque(n["id"] for n in members if n["type"] == "startEvent" or n.get("triggered_by_event"))
        while queue:
            node_id = queue.popleft()
            if (pid, node_id) in reached:
                continue
            reached.add((pid, node_id))
            queue.extend(successors.get((pid, node_id), []))
            queue.extend(attached.get((pid, node_id), []))
        for node in members:
            if node["type"] in ("subProcess", "transaction") and (pid, node["id"]) in reached:
                pending.append((pid, node["id"]))
            elif node.get("triggered_by_event"):
                pending.append((pid, node["id"]))
    return [
        _problem(
            "unreachable", f"{n['type']} {n.get('name') or n['id']!r} cannot be reached from a start event", n
        )
        for n in model["nodes"]
        # A non-executable process is another participant drawn for context (the guardian's pool in a
        # bpmn.io or Camunda Modeler collaboration): it never runs, so it is never "unreachable".
        if (n["process"], n["id"]) not in reached
        and model["processes"].get(n["process"], {}).get("executable", True)
    ]


def _condition_refusal(condition: str | None) -> str | None:
    if not condition:
        return None
    try:
        check_expression(condition)
    except ExpressionError as exc:
        return exc.message
    return None


def _gateways(model: Mapping[str, Any]) -> list[Problem]:
    outgoing: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for flow in model["flows"]:
        outgoing[(flow["process"], flow["source"])].append(flow)
    problems = []
    by_key = {(n["process"], n["id"]): n for n in model["nodes"]}
    for node in model["nodes"]:
        flows = outgoing.get((node["process"], node["id"]), [])
        if node["type"] in DECISION_GATEWAYS:
            for flow in flows:
                refused = _condition_refusal(flow["condition"])
                if refused:
                    # e.g. a Camunda `${...}` (JUEL) condition: say so at upload, not when a case gets there.
                    problems.append(
                        Problem(
                            "invalid_condition",
                            f"condition on flow {flow['id']!r} cannot be evaluated: {refused}",
                            flow["id"],
                            flow.get("name"),
                            node.get("file"),
                        )
                    )
            bare = [f for f in flows if not f["condition"] and f["id"] != node.get("default")]
            if len(flows) > 1 and not node.get("default") and bare:
                problems.append(
                    _problem(
                        "gateway_no_default",
                        f"gateway {node.get('name') or node['id']!r} has neither a default flow nor a "
                        f"condition on every outgoing flow ({', '.join(str(f['id']) for f in bare)})",
                        node,
                    )
                )
        else:
            for flow in flows:
                if flow["condition"]:
                    # SpiffWorkflow silently drops conditions that do not leave a decision gateway.
                    problems.append(
                        _problem(
                            "ignored_condition",
                            f"condition on flow {flow['id']!r} is ignored: only exclusive/inclusive gateways "
                            "evaluate conditions",
                            by_key.get((node["process"], node["id"]), node),
                        )
                    )
    return problems


def timer_problem(timer: Mapping[str, Any] | None) -> str | None:
    """Why a timer definition is invalid, or None. Expressions that read instance data are accepted."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as T

    if not timer or not timer.get("type"):
        return "timer has no timeDate, timeDuration or timeCycle"
    expression = timer.get("expression") or ""
    if not expression:
        return "timer expression is empty"
    try:
        value = evaluate(expression, {})
    except ExpressionError as exc:
        if exc.code == "expression_name":
            if re.fullmatch(r"(R\d*/)?P[0-9TWYMDHS.,]+|\d{4}-\d{2}-\d{2}T?.*", expression):
                return f'timer expression {expression} must be a quoted string: "{expression}"'
            return None  # depends on instance data; checked when the timer starts
        return f"timer expression is refused: {exc.message}"
    if not isinstance(value, str):
        return f"timer expression must produce an ISO 8601 string, got {type(value).__name__}"
    try:
        if timer["type"] == "duration":
            T.parse_iso_duration(value)
        elif timer["type"] == "date":
            T.parse_time_or_duration(value)
            if value.upper().startswith("P"):
                raise ValueError("a duration is not a date")
        else:
            T.parse_iso_recurring_interval(value)
            if not value.upper().startswith("R"):
                raise ValueError("a cycle must start with R")
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises bare Exception for bad ISO strings
        return f"{value!r} is not a valid ISO 8601 {timer['type']}"
    return None


def _timers(nodes: list[Mapping[str, Any]]) -> list[Problem]:
    problems = []
    for node in nodes:
        if node.get("timer") is not None:
            reason = timer_problem(node["timer"])
            if reason:
                problems.append(_problem("invalid_timer", reason, node))
    return problems


def _calls(model: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for node in model["nodes"]:
        if node["type"] == "callActivity" and node.get("called_element") not in model["processes"]:
            problems.append(
                _problem(
                    "missing_called_process",
                    f"call activity calls {node.get('called_element')!r}, which is not in the bundle",
                    node,
                )
            )
    for pid, info in model["processes"].items():
        if info.get("executable") and not any(
            n["process"] == pid and n["parent"] == pid and n["type"] == "startEvent" for n in model["nodes"]
        ):
            problems.append(
                Problem(
                    "no_start_event",
                    f"process {pid!r} has no start event",
                    pid,
                    info.get("name"),
                    info.get("file"),
                )
            )
    return problems


def _decisions(model: Mapping[str, Any]) -> list[Problem]:
    decisions = model.get("decisions", {})
    problems = []
    for node in model["nodes"]:
        if node["type"] != "businessRuleTask":
            continue
        called = node.get("called_decision")
        if not called:
            message = "business rule task names no decision (spiffworkflow:calledDecisionId)"
        elif called not in decisions:
            message = f"business rule task calls decision {called!r}, which is not in the bundle's DMN files"
        else:
            continue
        problems.append(_problem("missing_decision", message, node))
    return problems


def _forms(nodes: list[Mapping[str, Any]], forms: Mapping[str, Any]) -> list[Problem]:
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    problems = []
    for node in nodes:
        if node["type"] != "userTask":
            continue
        form = node.get("form")
        if not form:
            problems.append(
                _problem("missing_form", "user task names no form (formJsonSchemaFilename)", node)
            )
        elif form not in forms:
            problems.append(_problem("missing_form", f"form file {form!r} is not in the bundle", node))
        else:
            schema = forms[form]
            try:
                if not isinstance(schema, dict):
                    raise SchemaError("a schema must be a JSON object")
                validator_for(schema).check_schema(schema)
            except SchemaError as exc:
                problems.append(
                    _problem("invalid_form", f"form {form!r} is not a valid JSON Schema: {exc.message}", node)
                )
    return problems
