"""Diagrams drawn with Graphviz (`dot`): any version (or draft) left to right with its lanes as
clusters, and one case on its version with completed, active and waiting steps coloured.

Only the stored structural model and the platform's own rows are read (UserTask, WaitingTimer,
end_events): SpiffWorkflow is never loaded here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import graphviz
from django.utils.translation import gettext as _

from organisation.models import Role
from processes.engine import bundle_model
from processes.models import ProcessDraft, ProcessInstance, ProcessVersion
from processes.services.bundles import bundle_for_version
from processes.services.versions import bundle_files_from_folder
from tasks.models import UserTask

SHAPES = {
    "startEvent": ("circle", "", "0.35"),
    "endEvent": ("circle", "bold", "0.35"),
    "intermediateCatchEvent": ("doublecircle", "", "0.3"),
    "intermediateThrowEvent": ("doublecircle", "", "0.3"),
    "boundaryEvent": ("doublecircle", "dashed", "0.25"),
    "exclusiveGateway": ("diamond", "", "0.5"),
    "inclusiveGateway": ("diamond", "", "0.5"),
    "parallelGateway": ("diamond", "", "0.5"),
    "eventBasedGateway": ("diamond", "", "0.5"),
}
GATEWAY_MARKS = {
    "exclusiveGateway": "×",
    "parallelGateway": "+",
    "inclusiveGateway": "○",
    "eventBasedGateway": "⬠",
}
STEP_COLOURS = {
    "completed": ("#d9ead3", "#38761d"),
    "active": ("#fff2cc", "#b45f06"),
    "waiting": ("#cfe2f3", "#1155cc"),
    "added": ("#d9ead3", "#38761d"),
    "changed": ("#fff2cc", "#b45f06"),
}


def _lane_label(lane: str) -> str:
    try:
        return str(Role(lane).label)
    except ValueError:
        return lane


def _node_label(node: dict[str, Any]) -> str:
    if node["type"] in GATEWAY_MARKS:
        return GATEWAY_MARKS[node["type"]]
    name = node.get("name") or ""
    if node["type"].endswith("Event"):
        return ""
    return name or node["id"]


def model_graph(
    model: dict[str, Any], *, process_id: str | None = None, states: dict[str, str] | None = None
) -> graphviz.Digraph:
    """A left-to-right graph of one process of the model (default: the first executable one)."""
    states = states or {}
    processes = model.get("processes", {})
    process_id = process_id or next(
        (pid for pid, facts in processes.items() if facts.get("executable")), next(iter(processes), "")
    )
    graph = graphviz.Digraph(
        name=process_id or "process",
        graph_attr={
            "rankdir": "LR",
            "newrank": "true",
            "fontname": "Helvetica",
            "fontsize": "11",
            "nodesep": "0.3",
        },
        node_attr={"fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "arrowsize": "0.7"},
    )
    nodes = [n for n in model.get("nodes", []) if n["process"] == process_id]
    lanes: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        lanes.setdefault(node.get("lane") or "", []).append(node)

    def add(target: graphviz.Digraph, node: dict[str, Any]) -> None:
        shape, style, size = SHAPES.get(node["type"], ("box", "rounded", ""))
        attrs = {"shape": shape, "style": ",".join(s for s in (style, "filled") if s), "id": node["id"]}
        fill, line = STEP_COLOURS.get(states.get(node["id"], ""), ("#ffffff", "#444444"))
        attrs.update(fillcolor=fill, color=line)
        if size:
            attrs.update(width=size, height=size, fixedsize="true")
        label = _node_label(node)
        if node["type"].endswith("Event") and node.get("name"):
            attrs["xlabel"] = node["name"]
        tooltip = f"{node.get('name') or node['id']} [{node['id']}]"
        if node["id"] in states:
            tooltip += f" – {states[node['id']]}"
        target.node(node["id"], label=label, tooltip=tooltip, **attrs)

    for lane, members in lanes.items():  # lanes in the order the model first uses them
        if not lane:
            for node in members:
                add(graph, node)
            continue
        with graph.subgraph(name=f"cluster_{lane}") as cluster:
            cluster.attr(label=_lane_label(lane), style="rounded", color="#999999", labeljust="l")
            for node in members:
                add(cluster, node)
    ids = {n["id"] for n in nodes}
    for flow in model.get("flows", []):
        if flow["process"] != process_id or flow["source"] not in ids or flow["target"] not in ids:
            continue
        label = flow.get("name") or ""
        graph.edge(flow["source"], flow["target"], label=label, id=flow["id"] or "")
    for node in nodes:
        if node.get("attached_to") in ids:
            graph.edge(node["attached_to"], node["id"], style="dotted", arrowhead="none")
    return graph


def model_svg(
    model: dict[str, Any], *, process_id: str | None = None, states: dict[str, str] | None = None
) -> str:
    """The model's main process (`process_id`) as SVG text (Graphviz `dot`)."""
    return model_graph(model, process_id=process_id, states=states).pipe(format="svg", encoding="utf-8")


def version_svg(version: ProcessVersion) -> str:
    return model_svg(bundle_for_version(version).model, process_id=version.main_process_id)


def draft_svg(draft: ProcessDraft) -> str:
    return model_svg(draft.model or {}, process_id=draft.manifest.get("process_id"))


def instance_step_states(instance: ProcessInstance) -> dict[str, str]:
    """element id → completed / active / waiting, from the case's user tasks, timers and end events."""
    states: dict[str, str] = {}
    for element_id, status in instance.user_tasks.values_list("element_id", "status"):
        if status == UserTask.Status.OPEN:
            states[element_id] = "active"
        elif status == UserTask.Status.COMPLETED:
            states.setdefault(element_id, "completed")
    for element_id in instance.timers.values_list("element_id", flat=True):
        states[element_id] = "waiting"
    for element_id in instance.end_events or []:
        states[element_id] = "completed"
    return states


def instance_svg(instance: ProcessInstance) -> str:
    model = bundle_for_version(instance.version).model
    return model_svg(
        model, process_id=instance.version.main_process_id, states=instance_step_states(instance)
    )


def legend() -> list[tuple[str, str]]:
    return [
        ("completed", _("Completed")),
        ("active", _("Active")),
        ("waiting", _("Waiting")),
    ]


def library_diagram_svg(folder: Path) -> tuple[str, str]:
    """(key, SVG) of a bpmn/<key>/ folder as it is on disk, without deploying it."""
    bundle = bundle_files_from_folder(folder)
    raw = {name: text.encode() for name, text in bundle.files.items()}
    model = bundle_model(raw, bundle.manifest["process_id"]) or {}
    return bundle.key, model_svg(model, process_id=bundle.manifest["process_id"])
