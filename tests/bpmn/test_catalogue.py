"""The process library: every folder is complete, valid and documented in bpmn/README.md."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import SpiffWorkflow
import xmlschema
from lxml import etree

from tests.bpmn.harness import BPMN_ROOT, FORM_PROPERTY, NS, check_restricted

ROLES = {
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
XSD = Path(SpiffWorkflow.__file__).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"
FOLDERS = sorted(p.name for p in BPMN_ROOT.iterdir() if p.is_dir())
FLOW_NODES = (
    "startEvent",
    "endEvent",
    "userTask",
    "scriptTask",
    "serviceTask",
    "manualTask",
    "callActivity",
    "exclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "inclusiveGateway",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "subProcess",
    "task",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
)


@pytest.fixture(scope="module")
def xsd() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def root_of(key: str):
    return etree.parse(str(BPMN_ROOT / key / "model.bpmn")).getroot()


def labelled(schema: dict, where: str) -> None:
    assert schema.get("title") and schema.get("x-label-en"), f"{where} lacks title/x-label-en"
    for name, prop in schema.get("properties", {}).items():
        labelled(prop, f"{where}.{name}")


def test_there_are_process_folders() -> None:
    assert {
        "special_support",
        "offensive_treatment",
        "problematic_absence",
        "quality_work",
        "school_start",
    } <= set(FOLDERS)


@pytest.mark.parametrize("key", FOLDERS)
def test_folder_has_required_files_and_manifest(key: str) -> None:
    folder = BPMN_ROOT / key
    for name in ("model.bpmn", "process.json", "README.md"):
        assert (folder / name).is_file(), f"{key}/{name} missing"
    manifest = json.loads((folder / "process.json").read_text(encoding="utf-8"))
    assert manifest["key"] == key
    assert manifest["name"]["sv"] and manifest["name"]["en"]
    assert re.fullmatch(r"P(\d+[YMWD])+(T(\d+[HMS])+)?|PT(\d+[HMS])+", manifest["default_task_due"])
    for called in manifest.get("calls", []):
        assert (BPMN_ROOT / called / "model.bpmn").is_file()
    root = root_of(key)
    processes = root.findall("bpmn:process", NS)
    assert [p.get("id") for p in processes if p.get("isExecutable") == "true"] == [manifest["process_id"]]


@pytest.mark.parametrize("key", FOLDERS)
def test_model_validates_against_the_bpmn_xsd(key: str, xsd: xmlschema.XMLSchema) -> None:
    xsd.validate(str(BPMN_ROOT / key / "model.bpmn"))


@pytest.mark.parametrize("key", FOLDERS)
def test_one_pool_lanes_are_roles_and_hold_every_flow_node(key: str) -> None:
    root = root_of(key)
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert len(participants) == 1
    process = root.find(f"bpmn:process[@id='{participants[0].get('processRef')}']", NS)
    lanes = process.findall(".//bpmn:lane", NS)
    assert lanes and {lane.get("id") for lane in lanes} <= ROLES
    refs = [ref.text.strip() for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)]
    nodes = [el.get("id") for tag in FLOW_NODES for el in process.findall(f"bpmn:{tag}", NS)]
    assert sorted(refs) == sorted(nodes), "every flow node in exactly one lane"
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") in ("Start", "End"):
            pytest.fail(f"element id {el.get('id')} is reserved")


@pytest.mark.parametrize("key", FOLDERS)
def test_diagram_covers_pool_lanes_nodes_and_flows(key: str) -> None:
    root = root_of(key)
    shapes = {
        s.get("bpmnElement"): s for s in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape")
    }
    edges = {e.get("bpmnElement"): e for e in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNEdge")}
    process = root.find("bpmn:process[@isExecutable='true']", NS)
    pool = root.find("bpmn:collaboration/bpmn:participant", NS).get("id")
    assert shapes[pool].get("isHorizontal") == "true"
    for lane in process.findall(".//bpmn:lane", NS):
        assert shapes[lane.get("id")].get("isHorizontal") == "true"
    for tag in FLOW_NODES:
        for el in process.findall(f"bpmn:{tag}", NS):
            assert el.get("id") in shapes, f"{el.get('id')} has no shape"
            assert el.get("name"), f"{el.get('id')} has no name"
    for flow in process.findall("bpmn:sequenceFlow", NS):
        assert len(edges[flow.get("id")].findall("{http://www.omg.org/spec/DD/20100524/DI}waypoint")) >= 2


@pytest.mark.parametrize("key", FOLDERS)
def test_gateways_have_defaults_and_restricted_conditions(key: str) -> None:
    process = root_of(key).find("bpmn:process[@isExecutable='true']", NS)
    for gateway in process.findall("bpmn:exclusiveGateway", NS):
        outgoing = process.findall(f"bpmn:sequenceFlow[@sourceRef='{gateway.get('id')}']", NS)
        if len(outgoing) > 1:
            assert gateway.get("default"), f"{gateway.get('id')} has no default flow"
    for cond in process.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}conditionExpression"):
        check_restricted(cond.text)
    for timer in process.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}timerEventDefinition"):
        for expr in timer:
            check_restricted(expr.text)


@pytest.mark.parametrize("key", FOLDERS)
def test_every_user_task_has_a_labelled_json_schema_form(key: str) -> None:
    process = root_of(key).find("bpmn:process[@isExecutable='true']", NS)
    asked: dict[str, str] = {}
    for task in process.findall("bpmn:userTask", NS):
        prop = task.find(f".//spiffworkflow:property[@name='{FORM_PROPERTY}']", NS)
        assert prop is not None, f"{task.get('id')} has no form"
        schema = json.loads((BPMN_ROOT / key / "forms" / prop.get("value")).read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema.get("additionalProperties") is False
        assert set(schema.get("required", [])) <= set(schema["properties"])
        labelled(schema, f"{key}/{prop.get('value')}")
        for name, field in schema["properties"].items():
            if field.get("readOnly"):
                continue
            assert asked.setdefault(name, prop.get("value")) == prop.get("value"), (
                f"{name} asked twice in {key}"
            )


def test_readme_catalogue_lists_every_folder() -> None:
    text = (BPMN_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/conventions.md" in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for key in FOLDERS:
        assert any(f"`{key}`" in row for row in rows), f"{key} missing from bpmn/README.md"
