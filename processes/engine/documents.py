"""Hardened XML intake and the structural model the lint rules and lane mapping read.

Uploads are parsed here, never by SpiffWorkflow (which uses lxml defaults): no DTDs at all, no
entities, no network, no huge trees. The model extracted here is plain JSON so it survives in
``Bundle.spec_json()`` and lint/lane look-ups never need the XML again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from .errors import Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
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


def parse_file(filename: str, content: bytes, max_bytes: int) -> tuple[Any, list[Problem]]:
    """Parse one upload with the hardened parser; returns (tree or None, problems)."""
    if not isinstance(content, (bytes, bytearray)):
        return None, [Problem("parse_error", "file content must be bytes", file=filename)]
    if len(content) > max_bytes:
        return None, [
            Problem("too_large", f"file is {len(content)} bytes; the limit is {max_bytes}", file=filename)
        ]
    # Refuse before parsing: a DTD is never needed for BPMN and is how XXE and entity bombs arrive.
    if _DOCTYPE.search(bytes(content)):
        return None, [
            Problem("xml_unsafe", "DOCTYPE/DTD declarations are not allowed in BPMN uploads", file=filename)
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
            Problem("xml_unsafe", "DOCTYPE/DTD declarations are not allowed in BPMN uploads", file=filename)
        ]
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
