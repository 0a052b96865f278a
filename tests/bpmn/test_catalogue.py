"""The process library: every folder follows docs/conventions.md, validates against the BPMN XSD, is
accepted by the engine and is listed in bpmn/README.md. Each contract check lives here, once, for every
folder; the per-process test files hold only scenarios."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import jsonschema
import pytest
import xmlschema
from lxml import etree

from processes import engine
from processes.services.versions import bundle_files_from_folder
from tests.bpmn.harness import BPMN_ROOT

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FORM_PROPERTY = "formJsonSchemaFilename"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
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
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "task",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
}
FOLDERS = sorted(p.name for p in BPMN_ROOT.iterdir() if p.is_dir())

# The subset of expressions docs/conventions.md promises modellers ("Expressions"): narrower than what
# the engine's evaluator accepts, which is checked by bundle_check_xml and by running the scenarios.
CONVENTIONAL_CALLS = {"len", "working_days", "deadline_after"}
CONVENTIONAL_NODES = (
    ast.Expression,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.Subscript,
    ast.Call,
    ast.IfExp,
)


@pytest.fixture(scope="module")
def xsd() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(engine.BPMN_XSD_PATH))


def manifest_of(key: str) -> dict[str, Any]:
    return json.loads((BPMN_ROOT / key / "process.json").read_text(encoding="utf-8"))


def root_of(key: str) -> Any:
    return etree.parse(str(BPMN_ROOT / key / "model.bpmn")).getroot()


def process_of(key: str) -> Any:
    return root_of(key).find("bpmn:process", NS)


def flow_nodes(process: Any) -> dict[str, Any]:
    return {el.get("id"): el for el in process if etree.QName(el).localname in FLOW_NODES}


def assert_labelled(schema: dict[str, Any], where: str) -> None:
    assert schema.get("title") and schema.get("x-label-en"), f"{where} lacks title/x-label-en"
    for name, prop in schema.get("properties", {}).items():
        assert_labelled(prop, f"{where}.{name}")


def enum_label_problems(node: Any, where: str) -> list[str]:
    """Every ``enum`` anywhere in a schema (properties, array items, nested objects) needs ``x-enum-labels``
    ``{value: {"sv": ..., "en": ...}}`` for each of its values: the task form shows these as the options."""
    problems: list[str] = []
    if isinstance(node, dict):
        if "enum" in node:
            labels = node.get("x-enum-labels")
            if not isinstance(labels, dict):
                problems.append(f"{where}: enum without x-enum-labels {{value: {{sv, en}}}}")
                labels = {}
            for value in node["enum"]:
                label = labels.get(str(value))
                if not isinstance(label, dict) or not all(
                    isinstance(label.get(lang), str) and label[lang].strip() for lang in ("sv", "en")
                ):
                    problems.append(f"{where}: enum value {value!r} lacks a Swedish and an English label")
            extra = set(labels) - {str(value) for value in node["enum"]}
            if extra:
                problems.append(f"{where}: x-enum-labels for values not in the enum: {sorted(extra)}")
        for key, child in node.items():
            if key not in ("enum", "x-enum-labels", "const", "default", "examples"):
                problems += enum_label_problems(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            problems += enum_label_problems(child, f"{where}/{index}")
    return problems


def assert_conventional(source: str) -> None:
    for node in ast.walk(ast.parse(source.strip(), mode="eval")):
        assert isinstance(node, CONVENTIONAL_NODES), f"{type(node).__name__} is not allowed in {source!r}"
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in CONVENTIONAL_CALLS, (
                f"call not allowed in {source!r}"
            )


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
    manifest = manifest_of(key)
    assert manifest["key"] == key
    assert set(manifest["name"]) == {"sv", "en"}
    assert manifest["name"]["sv"] and manifest["name"]["en"]
    assert re.fullmatch(r"P(\d+[YMWD])+(T(\d+[HMS])+)?|PT(\d+[HMS])+", manifest["default_task_due"])
    for called in manifest["calls"]:
        assert (BPMN_ROOT / called / "model.bpmn").is_file(), called


@pytest.mark.parametrize("key", FOLDERS)
def test_called_folders_do_not_reuse_form_file_names(key: str) -> None:
    # Forms are looked up by file name across the bundle: a clash would pin the caller's form to a
    # called task (or the other way round), in the platform and in the scenario harness alike.
    own = {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in (BPMN_ROOT / key / "forms").glob("*.json")
    }
    for called in manifest_of(key)["calls"]:
        for path in (BPMN_ROOT / called / "forms").glob("*.json"):
            if path.name in own:
                assert own[path.name] == json.loads(path.read_text(encoding="utf-8")), (
                    f"{key} and {called} have different forms/{path.name}"
                )


@pytest.mark.parametrize("key", FOLDERS)
def test_model_validates_against_the_bpmn_xsd(key: str, xsd: xmlschema.XMLSchema) -> None:
    errors = [str(e) for e in xsd.iter_errors(str(BPMN_ROOT / key / "model.bpmn"))]
    assert errors == [], errors[:3]


@pytest.mark.parametrize("key", FOLDERS)
def test_engine_accepts_the_bundle_without_lint_problems(key: str) -> None:
    files = bundle_files_from_folder(BPMN_ROOT / key)
    raw = {name: text.encode() for name, text in files.files.items()}
    process_id = files.manifest["process_id"]
    assert engine.bundle_check_xml(raw, process_id, files.forms) == []
    assert engine.bundle_validate(engine.bundle_load(raw, process_id), files.forms) == []


@pytest.mark.parametrize("key", FOLDERS)
def test_one_executable_process_in_one_pool_with_one_lane_set(key: str) -> None:
    root = root_of(key)
    process_id = manifest_of(key)["process_id"]
    processes = root.findall("bpmn:process", NS)
    assert [p.get("id") for p in processes] == [process_id]
    assert processes[0].get("isExecutable") == "true"
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert [p.get("processRef") for p in participants] == [process_id]
    assert len(processes[0].findall("bpmn:laneSet", NS)) == 1


@pytest.mark.parametrize("key", FOLDERS)
def test_lanes_are_named_roles_and_hold_every_flow_node_once(key: str) -> None:
    process = process_of(key)
    lanes = process.findall(".//bpmn:lane", NS)
    assert lanes
    for lane in lanes:
        assert lane.get("id") in ROLES, lane.get("id")
        assert lane.get("name"), lane.get("id")
    refs = [(ref.text or "").strip() for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)]
    assert sorted(refs) == sorted(flow_nodes(process)), "every flow node in exactly one lane"


@pytest.mark.parametrize("key", FOLDERS)
def test_ids_are_unique_and_unreserved_and_elements_are_named(key: str) -> None:
    root = root_of(key)
    ids = [el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")]
    assert len(ids) == len(set(ids)), "duplicate element ids"
    assert not {"Start", "End"} & set(ids), "element ids Start and End are reserved"
    process = process_of(key)
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    for element in [process, *participants, *flow_nodes(process).values()]:
        assert element.get("name"), f"{element.get('id')} has no name"


@pytest.mark.parametrize("key", FOLDERS)
def test_gateways_have_defaults_and_expressions_stay_conventional(key: str) -> None:
    process = process_of(key)
    for gateway in process.findall("bpmn:exclusiveGateway", NS):
        outgoing = process.findall(f"bpmn:sequenceFlow[@sourceRef='{gateway.get('id')}']", NS)
        if outgoing:
            assert gateway.get("default") in {f.get("id") for f in outgoing}, (
                f"{gateway.get('id')} has no default flow among its outgoing flows"
            )
    for condition in process.iter(f"{{{NS['bpmn']}}}conditionExpression"):
        assert_conventional(condition.text)
    for timer in process.iter(f"{{{NS['bpmn']}}}timerEventDefinition"):
        for expression in timer:
            assert_conventional(expression.text)


@pytest.mark.parametrize("key", FOLDERS)
def test_references_by_id_resolve(key: str) -> None:
    # bpmn-js resolves loopDataInputRef/loopDataOutputRef (and the other *Ref elements) by element id and
    # warns "unresolved reference" otherwise; SpiffWorkflow reads them as variable names. A data object with
    # the variable's name as id satisfies both (docs/conventions.md, "One task per guardian").
    root = root_of(key)
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for tag in ("loopDataInputRef", "loopDataOutputRef", "dataInputRefs", "dataOutputRefs", "sourceRef"):
        for ref in root.iter(f"{{{NS['bpmn']}}}{tag}"):
            assert (ref.text or "").strip() in ids, f"{tag} {ref.text!r} does not name an element id"


@pytest.mark.parametrize("key", FOLDERS)
def test_every_user_task_has_a_labelled_json_schema_form(key: str) -> None:
    process = process_of(key)
    asked: dict[str, str] = {}
    for task in process.findall("bpmn:userTask", NS):
        prop = task.find(f".//spiffworkflow:property[@name='{FORM_PROPERTY}']", NS)
        assert prop is not None, f"{task.get('id')} has no form"
        form = prop.get("value")
        schema = json.loads((BPMN_ROOT / key / "forms" / form).read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == DRAFT_2020_12, form
        assert schema["additionalProperties"] is False, form
        assert set(schema["required"]) <= set(schema["properties"]), form
        assert_labelled(schema, f"{key}/{form}")
        for name, field in schema["properties"].items():
            if field.get("readOnly"):
                continue
            assert asked.setdefault(name, form) == form, f"{name} asked twice in {key}"


@pytest.mark.parametrize("key", FOLDERS)
def test_every_enum_value_has_swedish_and_english_labels(key: str) -> None:
    problems = []
    for path in sorted((BPMN_ROOT / key / "forms").glob("*.json")):
        problems += enum_label_problems(json.loads(path.read_text(encoding="utf-8")), f"{key}/{path.name}")
    assert not problems, "\n".join(problems)


def test_enum_label_check_catches_raw_codes() -> None:
    schema = {
        "properties": {
            "a": {"enum": ["x", "y"], "x-enum-labels": {"x": {"sv": "X", "en": "X"}, "y": {"sv": "Y"}}},
            "b": {"type": "array", "items": {"enum": ["z"]}},
            "c": {"enum": ["w"], "x-enum-labels": {"sv": ["W"], "en": ["W"]}},
        }
    }
    problems = enum_label_problems(schema, "s")
    assert any("'y'" in p for p in problems)
    assert any("/b/items" in p for p in problems)
    assert any("'w'" in p for p in problems) and any("not in the enum" in p for p in problems)


@pytest.mark.parametrize("key", FOLDERS)
def test_diagram_covers_pool_lanes_nodes_and_flows(key: str) -> None:
    root = root_of(key)
    process = process_of(key)
    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    pool = root.find("bpmn:collaboration/bpmn:participant", NS).get("id")
    lanes = [lane.get("id") for lane in process.findall(".//bpmn:lane", NS)]
    for element_id in [pool, *lanes]:
        assert shapes[element_id].get("isHorizontal") == "true", element_id
    missing = set(flow_nodes(process)) - set(shapes)
    assert not missing, f"no shape for {sorted(missing)}"
    assert set(edges) == {f.get("id") for f in process.findall("bpmn:sequenceFlow", NS)}
    for flow_id, edge in edges.items():
        assert len(edge.findall("di:waypoint", NS)) >= 2, flow_id


@pytest.mark.parametrize("key", FOLDERS)
def test_diagram_shapes_do_not_overlap(key: str) -> None:
    root = root_of(key)
    nodes = flow_nodes(process_of(key))
    bounds = {s.get("bpmnElement"): s.find("dc:Bounds", NS) for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    boxes = {
        node_id: tuple(float(bounds[node_id].get(k)) for k in ("x", "y", "width", "height"))
        for node_id, node in nodes.items()
        if etree.QName(node).localname != "boundaryEvent"  # boundary events sit on their task's edge
    }
    solid = list(boxes)
    for i, a in enumerate(solid):
        for b in solid[i + 1 :]:
            ax, ay, aw, ah = boxes[a]
            bx, by, bw, bh = boxes[b]
            assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah), f"{a} overlaps {b}"


def test_readme_catalogue_lists_every_folder() -> None:
    text = (BPMN_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/conventions.md" in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for key in FOLDERS:
        assert any(f"`{key}`" in row for row in rows), f"{key} missing from bpmn/README.md"
