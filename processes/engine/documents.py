"""Hardened XML intake and the structural model the lint rules and lane mapping read.

Uploads are parsed here, never by SpiffWorkflow (which uses lxml defaults): no DTDs at all, no
entities, no network, no huge trees. The model extracted here is plain JSON so it survives in
``Bundle.spec_json()`` and lint/lane look-ups never need the XML again.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from .errors import ExpressionError, Problem
from .expressions import check_expression

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# DMN 1.2 and 1.3, the versions SpiffWorkflow's DMN parser knows (and Camunda/bpmn.io modelers write).
DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
}
FORM_PROPERTY = "formJsonSchemaFilename"
RESERVED_IDS = frozenset({"Start", "End"})

FLOW_NODES = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "transaction",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
    }
)
CONTAINERS = frozenset({"subProcess", "transaction"})
# Everything else SpiffWorkflow understands inside a process (or harmlessly ignores: documentation,
# annotations). Anything not listed is reported rather than silently dropped by the parser.
KNOWN_PROCESS_CHILDREN = FLOW_NODES | frozenset(
    {
        "sequenceFlow",
        "laneSet",
        "lane",
        "childLaneSet",
        "flowNodeRef",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "dataInputAssociation",
        "dataOutputAssociation",
        "sourceRef",
        "targetRef",
        "incoming",
        "outgoing",
        "conditionExpression",
        "documentation",
        "extensionElements",
        "textAnnotation",
        "text",
        "association",
        "group",
        "timerEventDefinition",
        "timeDuration",
        "timeDate",
        "timeCycle",
        "messageEventDefinition",
        "signalEventDefinition",
        "errorEventDefinition",
        "escalationEventDefinition",
        "terminateEventDefinition",
        "cancelEventDefinition",
        "conditionalEventDefinition",
        "condition",
        "script",
        "multiInstanceLoopCharacteristics",
        "loopCardinality",
        "completionCondition",
        "loopDataInputRef",
        "loopDataOutputRef",
        "inputDataItem",
        "outputDataItem",
        "standardLoopCharacteristics",
        "loopCondition",
        "ioSpecification",
        "dataInput",
        "dataOutput",
        "inputSet",
        "outputSet",
        "dataInputRefs",
        "dataOutputRefs",
        "property",
        "dataState",
    }
)
UNSUPPORTED_HINTS = {
    "complexGateway": "complex gateways are not supported by the engine",
    "compensateEventDefinition": "compensation events are ignored by the engine",
    "linkEventDefinition": "link events are ignored by the engine (the event would behave as a plain event)",
    "adHocSubProcess": "ad-hoc sub-processes are not supported",
}
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _ns(tag: Any) -> str | None:
    return etree.QName(tag).namespace if isinstance(tag, str) else None


def hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_pis=True,
    )


def is_dmn(filename: str) -> bool:
    """Files named ``*.dmn`` hold DMN decision tables; every other bundle file is BPMN."""
    return filename.lower().endswith(".dmn")


def parse_file(filename: str, content: bytes, max_bytes: int) -> tuple[Any, list[Problem]]:
    """Parse one upload with the hardened parser; returns (tree or None, problems).

    ``*.dmn`` files must be DMN 1.2/1.3 documents (their comments are dropped: SpiffWorkflow's DMN
    parser cannot skip them), every other file a BPMN 2.0 document.
    """
    if not isinstance(content, (bytes, bytearray)):
        return None, [Problem("parse_error", "file content must be bytes", file=filename)]
    if len(content) > max_bytes:
        return None, [
            Problem("too_large", f"file is {len(content)} bytes; the limit is {max_bytes}", file=filename)
        ]
    # Refuse before parsing: a DTD is never needed for BPMN and is how XXE and entity bombs arrive.
    if _DOCTYPE.search(bytes(content)):
        return None, [
            Problem(
                "xml_unsafe", "DOCTYPE/DTD declarations are not allowed in BPMN or DMN uploads", file=filename
            )
        ]
    try:
        root = etree.fromstring(bytes(content), hardened_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno is not None else "?"
        return None, [Problem("xml_malformed", f"malformed XML on line {line}: {exc.msg}", file=filename)]
    tree = root.getroottree()
    # A DTD hidden by a non-ASCII encoding (UTF-16) escapes the byte scan but not the parse result.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        return None, [
            Problem(
                "xml_unsafe", "DOCTYPE/DTD declarations are not allowed in BPMN or DMN uploads", file=filename
            )
        ]
    if is_dmn(filename):
        if _local(root.tag) != "definitions" or _ns(root.tag) not in DMN_NAMESPACES:
            return None, [
                Problem(
                    "parse_error",
                    "not a DMN 1.2/1.3 document (root must be dmn:definitions)",
                    file=filename,
                )
            ]
        etree.strip_tags(root, etree.Comment)
        normalize_dmn(root)
        return tree, []
    if _local(root.tag) != "definitions" or _ns(root.tag) != BPMN_NS:
        return None, [
            Problem("parse_error", "not a BPMN 2.0 document (root must be bpmn:definitions)", file=filename)
        ]
    return tree, []


def _form_of(node: Any) -> str | None:
    for prop in node.iter(f"{{{SPIFF_NS}}}property"):
        if prop.get("name") == FORM_PROPERTY:
            return prop.get("value")
    return None


def _timer_of(node: Any) -> dict[str, Any] | None:
    definition = node.find(f"{{{BPMN_NS}}}timerEventDefinition")
    if definition is None:
        return None
    for kind, tag in (("date", "timeDate"), ("duration", "timeDuration"), ("cycle", "timeCycle")):
        child = definition.find(f"{{{BPMN_NS}}}{tag}")
        if child is not None:
            return {"type": kind, "expression": (child.text or "").strip()}
    return {"type": None, "expression": ""}


def _called_decision(node: Any) -> str | None:
    """``<spiffworkflow:calledDecisionId>`` of a business rule task, as SpiffWorkflow's parser reads it."""
    extensions = node.find(f"{{{BPMN_NS}}}extensionElements")
    found = extensions.find(f"{{{SPIFF_NS}}}calledDecisionId") if extensions is not None else None
    return (found.text or "").strip() or None if found is not None else None


def _message_of(node: Any, messages: Mapping[str, str]) -> str | None:
    definition = node.find(f"{{{BPMN_NS}}}messageEventDefinition")
    if definition is None and _local(node.tag) not in ("receiveTask", "sendTask"):
        return None
    ref = (definition if definition is not None else node).get("messageRef")
    return messages.get(ref or "", ref)


def extract_model(files: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Build the plain structural model of all parsed trees and the structural problems."""
    problems: list[Problem] = []
    processes: dict[str, Any] = {}
    nodes: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    for filename, tree in files.items():
        root = tree.getroot()
        messages = {m.get("id"): m.get("name") for m in root.iter(f"{{{BPMN_NS}}}message")}
        for element in root.iter():
            if isinstance(element.tag, str) and element.get("id") in RESERVED_IDS:
                problems.append(
                    Problem(
                        "reserved_id",
                        f"element id {element.get('id')!r} is reserved by the engine; rename it",
                        element.get("id"),
                        element.get("name"),
                        filename,
                    )
                )
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            pid = process.get("id")
            processes[pid] = {
                "file": filename,
                "name": process.get("name"),
                "executable": process.get("isExecutable", "true") == "true",
            }
            lanes: dict[str, str] = {}
            for lane in process.iter(f"{{{BPMN_NS}}}lane"):
                for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
                    # Nested lanes come later in document order, so the innermost lane wins.
                    lanes[(ref.text or "").strip()] = lane.get("id")
            _walk(process, pid, pid, filename, lanes, messages, nodes, flows, problems)
    return {"processes": processes, "nodes": nodes, "flows": flows}, problems


def _walk(
    container: Any,
    pid: str,
    parent: str,
    filename: str,
    lanes: Mapping[str, str],
    messages: Mapping[str, str],
    nodes: list[dict[str, Any]],
    flows: list[dict[str, Any]],
    problems: list[Problem],
) -> None:
    for child in container:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        if _ns(child.tag) != BPMN_NS:
            problems.append(
                Problem(
                    "unknown_element",
                    f"element {child.tag} is not BPMN and would be ignored",
                    child.get("id"),
                    child.get("name"),
                    filename,
                )
            )
            continue
        if tag == "extensionElements":
            continue
        _check_unknown(child, filename, problems)
        if tag == "sequenceFlow":
            condition = child.find(f"{{{BPMN_NS}}}conditionExpression")
            flows.append(
                {
                    "id": child.get("id"),
                    "process": pid,
                    "source": child.get("sourceRef"),
                    "target": child.get("targetRef"),
                    "name": child.get("name"),
                    "condition": (condition.text or "").strip() if condition is not None else None,
                }
            )
        elif tag in FLOW_NODES:
            node = {
                "id": child.get("id"),
                "name": child.get("name"),
                "type": tag,
                "process": pid,
                "parent": parent,
                "file": filename,
                "lane": lanes.get(child.get("id") or ""),
                "default": child.get("default"),
                "attached_to": child.get("attachedToRef"),
                "cancel_activity": child.get("cancelActivity", "true") != "false",
                "timer": _timer_of(child),
                "message": _message_of(child, messages),
                "form": _form_of(child) if tag in ("userTask", "manualTask") else None,
                "called_element": child.get("calledElement"),
                "called_decision": _called_decision(child) if tag == "businessRuleTask" else None,
                "triggered_by_event": child.get("triggeredByEvent") == "true",
                "line": child.sourceline,
            }
            nodes.append(node)
            if tag in CONTAINERS:
                _walk(child, pid, node["id"], filename, lanes, messages, nodes, flows, problems)


def _check_unknown(element: Any, filename: str, problems: list[Problem]) -> None:
    stack = [element]
    while stack:
        item = stack.pop()
        if not isinstance(item.tag, str):
            continue
        tag = _local(item.tag)
        if item is not element and _ns(item.tag) == BPMN_NS and (tag in FLOW_NODES or tag == "sequenceFlow"):
            continue  # nodes inside a sub-process are walked by _walk with their own container
        if _ns(item.tag) != BPMN_NS or tag == "extensionElements":
            if _ns(item.tag) != BPMN_NS:
                problems.append(
                    Problem(
                        "unknown_element",
                        f"element {item.tag} is not BPMN and would be ignored",
                        item.get("id"),
                        item.get("name"),
                        filename,
                    )
                )
            continue
        if tag in UNSUPPORTED_HINTS or tag not in KNOWN_PROCESS_CHILDREN:
            owner = item if item.get("id") else item.getparent()
            problems.append(
                Problem(
                    "unknown_element",
                    UNSUPPORTED_HINTS.get(
                        tag, f"bpmn:{tag} is not supported by the engine and would be ignored"
                    )
                    + f" (line {item.sourceline})",
                    owner.get("id"),
                    owner.get("name"),
                    filename,
                )
            )
            continue
        stack.extend(item)


# -- DMN -------------------------------------------------------------------------------------------
SUPPORTED_HIT_POLICIES = frozenset({"UNIQUE", "FIRST", "COLLECT"})
DECISION_TABLE_CHILDREN = frozenset({"input", "output", "rule"})
UNSUPPORTED_DECISION_LOGIC = frozenset(
    {"literalExpression", "context", "invocation", "relation", "list", "functionDefinition"}
)
# DMNEngine replaces a ``?`` outside quotes with the input value (``1 <= ? <= 5``).
_QUESTION_MARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")


def _dmn_children(element: Any, name: str) -> list[Any]:
    return [c for c in element if isinstance(c.tag, str) and _local(c.tag) == name]


def _dmn_text(element: Any) -> str | None:
    for child in element:
        if isinstance(child.tag, str) and _local(child.tag) == "text":
            return child.text
    return None


def _refusal(expression: str) -> ExpressionError | None:
    try:
        check_expression(expression)
    except ExpressionError as exc:
        return exc
    return None


def _expression_problem(expression: str) -> str | None:
    refused = _refusal(expression)
    return refused.message if refused else None


def _as_operand(source: str) -> ast.AST:
    return ast.parse(source.strip(), mode="eval").body


def input_entry_problem(entry: str | None, input_expression: str) -> str | None:
    """Why a rule's input entry cannot be evaluated the way SpiffWorkflow's DMNEngine builds it, or None.

    DMNEngine turns an entry into one Python expression for the restricted evaluator: with ``?`` the
    entry itself (``?`` is the input value); a complete expression (``"approved"``, ``4``) becomes
    ``(input) == (entry)``; an operator-first test (``>= 4``, ``in [1, 2]``, ``!= "x"``) is appended to
    the input expression. FEEL-only syntax (ranges ``[1..5]``, lists ``"a","b"``, ``not(...)``)
    would fail or silently never match, so it is refused here, at deploy time.
    """
    text = (entry or "").strip()
    if text in ("", "-"):
        return None
    hint = 'FEEL ranges and lists are not supported: write `1 <= ? <= 5` or `in ["a", "b"]`'
    if _QUESTION_MARK.search(text):
        refused = _refusal(_QUESTION_MARK.sub("dmninputexpr", text))
        if refused is None:
            return None
        return f"{refused.message}; {hint}" if refused.code == "expression_syntax" else refused.message
    whole = _refusal(text)
    if whole is None:
        body = _as_operand(text)
        if isinstance(body, ast.Tuple):
            return f"{text!r} is a list of values; {hint}"
        if isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.Not):
            return f"{text!r} would compare the input with a boolean; write `!= ...` or `not in [...]`"
        return None
    if whole.code != "expression_syntax":
        return whole.message
    operator_first = _refusal(f"v {text}")
    if operator_first is not None:
        if operator_first.code == "expression_syntax":
            return f"{whole.message}; {hint}"
        return operator_first.message
    combined = f"{input_expression} {text}"  # normalize_dmn adds the space DMNEngine leaves out
    reason = _expression_problem(combined)
    if reason is not None:
        return reason
    # DMNEngine appends the test to the input without parentheses: `a or b` + `== 1` is `a or (b == 1)`.
    expected = _as_operand(f"dmn_operand_ {text}")
    first = next(n for n in ast.walk(expected) if isinstance(n, ast.Name) and n.id == "dmn_operand_")
    operand = _as_operand(input_expression)
    for node in ast.walk(expected):
        for name, value in ast.iter_fields(node):
            if value is first:
                setattr(node, name, operand)
            elif isinstance(value, list) and any(v is first for v in value):
                setattr(node, name, [operand if v is first else v for v in value])
    if ast.dump(expected) != ast.dump(_as_operand(combined)):
        return (
            f"the input expression {input_expression!r} followed by {text!r} does not read as one test; "
            "put the input expression in parentheses or use ?"
        )
    return None


def extract_decisions(files: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Decisions of the parsed DMN trees (decision id -> facts) and the structural problems.

    SpiffWorkflow evaluates one decision table per DMN file with hit policy UNIQUE (first matching
    rule), FIRST or COLLECT (a list per output); everything else is reported, not silently ignored.
    """
    decisions: dict[str, Any] = {}
    problems: list[Problem] = []
    for filename, tree in files.items():
        root = tree.getroot()
        namespace = _ns(root.tag)
        if root.nsmap.get(None) != namespace and root.nsmap.get("dmn") != namespace:
            problems.append(
                Problem(
                    "invalid_dmn",
                    "declare the DMN namespace as the default namespace or with the prefix dmn",
                    file=filename,
                )
            )
            continue
        found = _dmn_children(root, "decision")
        if not found:
            problems.append(Problem("invalid_dmn", "the DMN file contains no decision", file=filename))
        elif len(found) > 1:
            problems.append(
                Problem(
                    "invalid_dmn",
                    "the engine reads one decision per DMN file; put each decision in its own file",
                    found[1].get("id"),
                    found[1].get("name"),
                    filename,
                )
            )
        for decision in found[:1]:
            facts, decision_problems = _decision(decision, filename)
            problems += decision_problems
            if facts is None:
                continue
            if facts["id"] in decisions:
                problems.append(
                    Problem(
                        "invalid_dmn",
                        f"decision id {facts['id']!r} is also used in {decisions[facts['id']]['file']}",
                        facts["id"],
                        facts["name"],
                        filename,
                    )
                )
                continue
            decisions[facts["id"]] = facts
    return decisions, problems


def _decision(decision: Any, filename: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    decision_id, name = decision.get("id"), decision.get("name")

    def problem(code: str, message: str, element: Any = None) -> Problem:
        element = decision if element is None else element
        return Problem(code, message, element.get("id") or decision_id, element.get("name") or name, filename)

    if not decision_id:
        return None, [problem("invalid_dmn", f"a decision has no id (line {decision.sourceline})")]
    problems: list[Problem] = []
    for child in decision:
        tag = _local(child.tag)
        if tag in UNSUPPORTED_DECISION_LOGIC:
            problems.append(problem("unsupported_dmn", f"dmn:{tag} is not supported; use a decision table"))
        elif tag == "informationRequirement" and _dmn_children(child, "requiredDecision"):
            problems.append(
                problem("unsupported_dmn", "decisions that require other decisions are not supported")
            )
    tables = _dmn_children(decision, "decisionTable")
    if len(tables) != 1:
        problems.append(problem("invalid_dmn", "a decision needs exactly one decision table"))
        return None, problems
    table = tables[0]
    hit_policy = (table.get("hitPolicy") or "UNIQUE").upper()
    if hit_policy not in SUPPORTED_HIT_POLICIES or table.get("aggregation"):
        shown = f"{hit_policy} {table.get('aggregation') or ''}".strip()
        problems.append(
            problem(
                "unsupported_hit_policy",
                f"hit policy {shown} is not supported; use UNIQUE, FIRST or COLLECT without aggregation",
            )
        )
    if not table.get("id"):
        problems.append(problem("invalid_dmn", "the decision table has no id"))
    for child in table:
        tag = _local(child.tag)
        if isinstance(child.tag, str) and tag not in DECISION_TABLE_CHILDREN:
            problems.append(
                problem("unsupported_dmn", f"dmn:{tag} in a decision table is not supported", child)
            )
    inputs, outputs = _dmn_children(table, "input"), _dmn_children(table, "output")
    expressions: list[str] = []
    for column in inputs:
        clauses = _dmn_children(column, "inputExpression")
        expression = (_dmn_text(clauses[0]) if clauses else None) or ""
        if not column.get("id") or not expression.strip():
            problems.append(problem("invalid_dmn", "every input needs an id and an input expression", column))
        else:
            reason = _expression_problem(expression)
            if reason:
                problems.append(problem("invalid_dmn_expression", f"input {expression!r}: {reason}", column))
        expressions.append(expression.strip())
    for column in outputs:
        if not column.get("id") or not (column.get("name") or column.get("label")):
            problems.append(problem("invalid_dmn", "every output needs an id and a name", column))
    for rule in _dmn_children(table, "rule"):
        in_entries, out_entries = _dmn_children(rule, "inputEntry"), _dmn_children(rule, "outputEntry")
        if not rule.get("id") or len(in_entries) != len(inputs) or len(out_entries) != len(outputs):
            problems.append(
                problem(
                    "invalid_dmn",
                    f"rule on line {rule.sourceline} needs an id and one entry per input and output",
                    rule,
                )
            )
            continue
        for entry, expression in zip(in_entries, expressions, strict=True):
            reason = input_entry_problem(_dmn_text(entry), expression) if expression else None
            if reason:
                problems.append(problem("invalid_dmn_expression", f"input entry: {reason}", rule))
        for entry in out_entries:
            text = (_dmn_text(entry) or "").strip()
            reason = _expression_problem(text) if text else None
            if reason:
                problems.append(problem("invalid_dmn_expression", f"output entry {text!r}: {reason}", rule))
    facts = {"id": decision_id, "name": name, "file": filename, "hit_policy": hit_policy}
    return facts, problems


def normalize_dmn(root: Any) -> None:
    """Tidy entry texts in place for SpiffWorkflow's DMNEngine.

    It treats only an exact ``-`` as "any value" (an empty string would be evaluated), and appends an
    operator-first entry to the input expression without a space (``score`` + ``in [1, 2]`` would read
    ``scorein [1, 2]``); a leading space changes nothing else, as expressions are stripped.
    """
    for element in root.iter():
        if not isinstance(element.tag, str) or _local(element.tag) != "text" or element.text is None:
            continue
        text = element.text.strip()
        if _local(element.getparent().tag) == "inputEntry":
            text = " " + text if text not in ("", "-") else "-"
        element.text = text
