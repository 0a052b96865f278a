"""Every model in bpmn/ opens in bpmn-js with its lanes visible (issue "Process library", Done-when).

bpmn-js comes from the npm registry through package.json and package-lock.json (bin/install runs `npm ci`).
The harness page and bpmn-js's dist/ folder are served on a fake origin through Playwright's page.route, and
every other request is aborted, so the test never touches the network. A PNG of each diagram is written to
var/bpmn-renders/<key>.png for people to look at.
"""

from __future__ import annotations

import mimetypes
import os
from itertools import combinations
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BPMN_DIR = ROOT / "bpmn"
BPMN_JS_DIST = ROOT / "node_modules" / "bpmn-js" / "dist"
HARNESS = Path(__file__).with_name("bpmn_viewer.html")
RENDERS = ROOT / "var" / "bpmn-renders"
ORIGIN = "http://skolflode.test"
# bpmn-js writes a lane's name, turned 90 degrees, in a header band this wide at the lane's left edge.
LANE_HEADER = 30
# Glyph boxes include the font's ascent and descent: boxes that touch or overlap by less than this are fine.
LABEL_SLACK = 1.0

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
FLOW_NODE_TAGS = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "task",
    "userTask",
    "serviceTask",
    "scriptTask",
    "manualTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
}

MODEL_KEYS = sorted(p.parent.name for p in BPMN_DIR.glob("*/process.json"))


@pytest.fixture
def bpmn_js() -> Path:
    if not (BPMN_JS_DIST / "bpmn-navigated-viewer.production.min.js").is_file():
        message = "node_modules/bpmn-js is missing: run bin/install (it runs `npm ci` from package-lock.json)"
        if os.environ.get("SKOLFLODE_REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return BPMN_JS_DIST


@pytest.fixture
def viewer(bpmn_js: Path, page):
    """The harness page on the fake origin, with bpmn-js loaded and every other request aborted."""
    outside: list[str] = []
    errors: list[str] = []

    def serve(route) -> None:
        url = urlsplit(route.request.url)
        body: Path | None = None
        if f"{url.scheme}://{url.netloc}" == ORIGIN:
            if url.path == "/":
                body = HARNESS
            elif url.path.startswith("/bpmn-js/"):
                candidate = (bpmn_js / url.path.removeprefix("/bpmn-js/")).resolve()
                if candidate.is_relative_to(bpmn_js.resolve()) and candidate.is_file():
                    body = candidate
        if body is None:
            outside.append(route.request.url)
            route.abort()
            return
        content_type = mimetypes.guess_type(body.name)[0] or "application/octet-stream"
        route.fulfill(status=200, body=body.read_bytes(), content_type=content_type)

    page.route("**/*", serve)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: console_error(msg, errors))
    page.goto(f"{ORIGIN}/")
    assert page.evaluate("typeof window.BpmnJS") == "function", f"bpmn-js did not load: {errors}"
    yield page
    assert not outside, f"the harness requested files that are not served: {outside}"
    assert not errors, f"errors in the browser console: {errors}"


def console_error(message, errors: list[str]) -> None:
    # bpmn-js also logs each import problem as "failed to import ..."; the test reports those as warnings.
    if message.type == "error" and not message.text.startswith("failed to import"):
        errors.append(message.text)


def expected_elements(xml: bytes) -> tuple[dict[str, str], list[str], list[str], dict[str, str]]:
    """Lanes (id -> name), flow node ids, sequence flow ids and flow node id -> lane id, from the XML."""
    root = etree.fromstring(xml)
    lanes = {lane.get("id"): lane.get("name") or "" for lane in root.iterfind(".//bpmn:lane", NS)}
    lane_of = {
        ref.text.strip(): lane.get("id")
        for lane in root.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    flow_nodes = [
        el.get("id") for el in root.iter(f"{{{NS['bpmn']}}}*") if etree.QName(el).localname in FLOW_NODE_TAGS
    ]
    flows = [el.get("id") for el in root.iterfind(".//bpmn:sequenceFlow", NS)]
    return lanes, flow_nodes, flows, lane_of


def element_names(xml: bytes) -> dict[str, str]:
    root = etree.fromstring(xml)
    return {el.get("id"): el.get("name") or "" for el in root.iter(f"{{{NS['bpmn']}}}*") if el.get("id")}


def overlap(a: dict, b: dict) -> bool:
    """Whether two boxes share area (touching edges is fine)."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def contains(outer: dict, inner: dict, slack: float = 1.0) -> bool:
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


def header_band(rect: dict, scale: float) -> dict:
    return {"x": rect["x"], "y": rect["y"], "width": LANE_HEADER * scale, "height": rect["height"]}


def shrunk(box: dict, by: float = LABEL_SLACK) -> dict:
    return {
        "x": box["x"] + by,
        "y": box["y"] + by,
        "width": max(0.0, box["width"] - 2 * by),
        "height": max(0.0, box["height"] - 2 * by),
    }


def describe(label: dict) -> str:
    text = " ".join(label["text"].split())
    return f"label of {label['id']!r} ({text!r} at {label['x']:.0f},{label['y']:.0f})"


def label_problems(rendered: dict, flow_nodes: set[str]) -> list[str]:
    """Every rendered name is readable: the text boxes (SVG getBBox, diagram coordinates) of two labels never
    intersect, no label - external (event, gateway, sequence flow) or a task's own text - meets a flow node's
    shape other than its own element's, and no label runs into a lane's header band or out of the pool."""
    problems = []
    labels = [label for label in rendered["labels"] if label["width"] and label["height"]]
    nodes = [shape for shape in rendered["shapes"] if shape["id"] in flow_nodes]
    for a, b in combinations(labels, 2):
        if overlap(shrunk(a), shrunk(b)):
            problems.append(f"{describe(a)} overlaps the {describe(b)}")
    headers = [header_band(lane, 1.0) for lane in rendered["laneBoxes"]]
    for label in labels:
        inner = shrunk(label)
        for shape in nodes:
            if shape["id"] != label["id"] and overlap(inner, shape):
                # An external label may not lie on another element; a task's own text may not be hidden
                # under another element either (a boundary event on its border, say).
                problems.append(f"{describe(label)} and the shape of {shape['id']!r} overlap")
        if any(overlap(inner, header) for header in headers):
            problems.append(f"{describe(label)} runs into a lane header")
        if not any(contains(pool, label, slack=LABEL_SLACK) for pool in rendered["pools"]):
            problems.append(f"{describe(label)} is not inside the pool")
    return problems


def centre(shape: dict) -> dict:
    x, y = shape["x"] + shape["width"] / 2, shape["y"] + shape["height"] / 2
    return {"x": x, "y": y, "width": 0, "height": 0}


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_model_opens_in_bpmn_js_with_its_lanes_visible(viewer, key: str) -> None:
    xml = (BPMN_DIR / key / "model.bpmn").read_bytes()
    lanes, flow_nodes, flows, lane_of = expected_elements(xml)

    rendered = viewer.evaluate("xml => window.renderModel(xml)", xml.decode("utf-8"))
    assert rendered["error"] is None, f"{key}: bpmn-js could not import model.bpmn: {rendered['error']}"
    viewer.set_viewport_size(rendered["size"])
    RENDERS.mkdir(parents=True, exist_ok=True)
    viewer.locator("#canvas").screenshot(path=str(RENDERS / f"{key}.png"))

    problems = [f"import warning: {message}" for message in rendered["warnings"]]

    shapes = {shape["id"]: shape for shape in rendered["shapes"]}
    connections = {connection["id"] for connection in rendered["connections"]}
    problems += [f"flow node {id_!r} has no shape (no BPMNShape)" for id_ in flow_nodes if id_ not in shapes]
    problems += [
        f"sequence flow {id_!r} has no edge (no BPMNEdge)" for id_ in flows if id_ not in connections
    ]

    # Lanes: each one rendered, with its name written inside its own band.
    rendered_lanes = {lane["id"]: lane for lane in rendered["lanes"]}
    if len(rendered_lanes) != len(lanes):
        problems.append(f"{len(lanes)} lanes in the XML but {len(rendered_lanes)} rendered")
    for lane_id, name in lanes.items():
        lane = rendered_lanes.get(lane_id)
        if lane is None:
            problems.append(f"lane {lane_id!r} is not rendered (no BPMNShape)")
        elif not name:
            problems.append(f"lane {lane_id!r} has no name to show")
        elif (lane["text"] or "").split() != name.split():
            problems.append(f"lane {lane_id!r} shows {lane['text']!r} instead of its name {name!r}")
        elif not lane["label"]["width"] or not lane["label"]["height"]:
            problems.append(f"lane {lane_id!r}: its label {name!r} has no size on screen")
        elif not contains(header_band(lane["rect"], rendered["scale"]), lane["label"]):
            problems.append(f"lane {lane_id!r}: its label {name!r} does not fit in the lane's header")
    for lane_id in sorted(rendered_lanes.keys() & lanes.keys()):
        if not viewer.locator(f'[data-element-id="{lane_id}"] .djs-visual text').is_visible():
            problems.append(f"lane {lane_id!r}: its label is not visible")

    # Flow nodes sit inside the lane that lists them, and do not overlap one another.
    for node_id, lane_id in lane_of.items():
        node, lane = shapes.get(node_id), shapes.get(lane_id)
        if node and lane and not contains(lane, centre(node)):
            problems.append(f"flow node {node_id!r} is listed in lane {lane_id!r} but drawn outside it")
    drawn = [shapes[id_] for id_ in flow_nodes if id_ in shapes]
    for a, b in combinations(drawn, 2):
        if a["host"] == b["id"] or b["host"] == a["id"]:
            continue  # a boundary event sits on its host's border by design
        if overlap(a, b):
            problems.append(
                f"{a['id']!r} ({a['x']},{a['y']} {a['width']}x{a['height']}) overlaps "
                f"{b['id']!r} ({b['x']},{b['y']} {b['width']}x{b['height']})"
            )

    problems += label_problems(rendered, set(flow_nodes))
    names = element_names(xml)
    for label in rendered["labels"]:
        if label["text"].split() != names.get(label["id"], "").split():
            problems.append(f"{describe(label)} breaks a word of {names.get(label['id'])!r}: widen it")

    if problems:
        pytest.fail(f"bpmn/{key}/model.bpmn in bpmn-js:\n  " + "\n  ".join(problems), pytrace=False)
