"""Steps and checks shared by the placement-family scenarios (appeal, enrolment, preschool, transfer).

The driver itself is ``tests/bpmn/harness.py``; this module adds the structural checks of a
``bpmn/<key>/`` folder (XSD, lanes, diagram, forms) and the appeal steps that the enrolment and
transfer scenarios reuse.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import SpiffWorkflow
import xmlschema
from lxml import etree

from .harness import BPMN_ROOT, ProcessDriver

XSD_PATH = Path(SpiffWorkflow.__file__).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
ROLE_CODES = {
    "guardian",
    "pupil",
    "teacher",
    "school_admin",
    "principal",
    "student_health",
    "placement_office",
    "governing_body",
    "receiving_school",
    "sending_school",
}
FLOW_NODES = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "userTask",
    "scriptTask",
    "serviceTask",
    "manualTask",
    "task",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
}
PIXEL_TASKS = {"userTask", "scriptTask", "serviceTask", "manualTask", "task", "callActivity"}

THREE_WEEKS = timedelta(weeks=3)
MINUTE = timedelta(minutes=1)


@lru_cache(maxsize=1)
def bpmn_xsd() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD_PATH))


def _local(tag: str) -> str:
    return etree.QName(tag).localname


def assert_folder_well_formed(key: str) -> None:
    """The contract of docs/conventions.md for one ``bpmn/<key>/`` folder."""
    folder = BPMN_ROOT / key
    model_path = folder / "model.bpmn"
    errors = [str(e) for e in bpmn_xsd().iter_errors(str(model_path))]
    assert errors == [], errors[:3]

    manifest = json.loads((folder / "process.json").read_text(encoding="utf-8"))
    assert manifest["key"] == key
    assert set(manifest["name"]) == {"sv", "en"}
    for called in manifest["calls"]:
        assert (BPMN_ROOT / called / "model.bpmn").exists(), called

    root = etree.parse(str(model_path)).getroot()
    processes = root.findall("bpmn:process", NS)
    assert [p.get("id") for p in processes] == [manifest["process_id"]]
    process = processes[0]
    assert process.get("isExecutable") == "true"
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert [p.get("processRef") for p in participants] == [manifest["process_id"]]
    lane_sets = process.findall("bpmn:laneSet", NS)
    assert len(lane_sets) == 1

    nodes = {el.get("id"): el for el in process if _local(el.tag) in FLOW_NODES}
    flows = {el.get("id"): el for el in process if _local(el.tag) == "sequenceFlow"}
    in_lane: dict[str, list[str]] = {}
    for lane in lane_sets[0].findall("bpmn:lane", NS):
        assert lane.get("id") in ROLE_CODES, lane.get("id")
        assert lane.get("name")
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            in_lane.setdefault(ref.text, []).append(lane.get("id"))
    assert {n: len(lanes) for n, lanes in in_lane.items()} == {n: 1 for n in nodes}

    all_ids = [el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")]
    assert "Start" not in all_ids and "End" not in all_ids
    assert len(all_ids) == len(set(all_ids))
    for element in list(nodes.values()) + [process, *participants]:
        assert element.get("name"), element.get("id")

    for node_id, node in nodes.items():
        kind = _local(node.tag)
        if kind == "exclusiveGateway" and any(f.get("sourceRef") == node_id for f in flows.values()):
            assert node.get("default") in flows, f"{node_id} has no default flow"
        if kind == "userTask":
            prop = node.find(".//spiffworkflow:property[@name='formJsonSchemaFilename']", NS)
            assert prop is not None, node_id
            _assert_form_well_formed(json.loads((folder / "forms" / prop.get("value")).read_text("utf-8")))

    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    for element_id in [participants[0].get("id"), *in_lane_ids(lane_sets[0])]:
        assert shapes[element_id].get("isHorizontal") == "true", element_id
    assert set(nodes) <= set(shapes)
    assert set(flows) == set(edges)
    for flow_id, edge in edges.items():
        assert len(edge.findall("di:waypoint", NS)) >= 2, flow_id
    boxes = {}
    for node_id in nodes:
        b = shapes[node_id].find("dc:Bounds", NS)
        boxes[node_id] = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
    solid = [n for n in nodes if _local(nodes[n].tag) != "boundaryEvent"]
    for i, a in enumerate(solid):
        for b in solid[i + 1 :]:
            ax, ay, aw, ah = boxes[a]
            bx, by, bw, bh = boxes[b]
            assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah), f"{a} overlaps {b}"


def in_lane_ids(lane_set: Any) -> list[str]:
    return [lane.get("id") for lane in lane_set.findall("bpmn:lane", NS)]


def _assert_form_well_formed(schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["title"] and schema["x-label-en"]
    assert set(schema["required"]) <= set(schema["properties"])
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("x-label-en"), name


def send_appeal(drv: ProcessDriver, payload: dict[str, Any] | None = None) -> None:
    """The e-service delivers a written appeal to the decision-maker (message ``appeal_received``)."""
    before = drv.ready()
    drv.send_message("appeal_received", payload or {"text": "Vi överklagar beslutet."})
    assert drv.ready() != before or drv.is_completed, "the appeal message was not delivered"


# ---- appeal steps, by the lane of the decision-maker -------------------------------------------------

LANE_PREFIX = {"principal": "principal_", "placement_office": "office_"}


def check_timeliness(drv: ProcessDriver, lane: str, *, in_time: bool) -> None:
    drv.complete(
        f"{LANE_PREFIX[lane]}check_timeliness",
        {
            "appeal_received_on": drv.now().date().isoformat(),
            "appellant": "guardians",
            "two_guardians_with_custody": True,
            "all_custodians_stand_behind": True,
            "appeal_in_time": in_time,
        },
        lane=lane,
    )


def reconsider(drv: ProcessDriver, lane: str, result: str) -> None:
    drv.complete(
        f"{LANE_PREFIX[lane]}reconsider",
        {
            "reconsideration_result": result,
            "reconsideration_reason": "Beslutet har omprövats mot vad som anförts i överklagandet.",
        },
        lane=lane,
    )


def forward(drv: ProcessDriver, lane: str) -> None:
    drv.complete(
        f"{LANE_PREFIX[lane]}forward",
        {
            "forwarded_to": "okn",
            "forwarded_on": drv.now().date().isoformat(),
            "statement_attached": True,
        },
        lane=lane,
    )


def let_appeal_window_pass(drv: ProcessDriver) -> None:
    """Nothing arrives: three weeks (calendar days) pass and the decision stands."""
    drv.advance(THREE_WEEKS - MINUTE)
    drv.advance(2 * MINUTE)


@lru_cache(maxsize=1)
def _appeal_end_events() -> frozenset[str]:
    root = etree.parse(str(BPMN_ROOT / "appeal" / "model.bpmn")).getroot()
    return frozenset(e.get("id") for e in root.iterfind(".//bpmn:endEvent", NS))


def main_ends(drv: ProcessDriver) -> list[str]:
    """End events of the calling process only (the engine also lists those of the called appeal)."""
    return sorted(e for e in drv.ended_at if e not in _appeal_end_events())
