"""The bottleneck heat map: the version's structural model drawn by graphviz (`dot`), left to right, one
cluster per lane, each user task filled by its median waiting time and labelled with it in words too."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping

import graphviz
from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.translation import gettext as _

from processes.engine import Bundle

# Sequential, colour-blind safe (ColorBrewer YlOrRd) with the text colour readable on each.
HEAT = [
    (1.0, "#ffffb2", "#1b1f24"),
    (3.0, "#fecc5c", "#1b1f24"),
    (7.0, "#fd8d3c", "#1b1f24"),
    (14.0, "#f03b20", "#ffffff"),
    (float("inf"), "#bd0026", "#ffffff"),
]
NO_DATA = ("#f6f7f9", "#59636e")
SHAPES = {
    "startEvent": ("circle", ""),
    "endEvent": ("doublecircle", ""),
    "exclusiveGateway": ("diamond", "×"),
    "inclusiveGateway": ("diamond", "○"),
    "parallelGateway": ("diamond", "+"),
    "eventBasedGateway": ("diamond", "◇"),
}


def heat_colour(days: float | None) -> tuple[str, str]:
    if days is None:
        return NO_DATA
    for upper, fill, ink in HEAT:
        if days < upper:
            return fill, ink
    return HEAT[-1][1], HEAT[-1][2]


def _days(value: float) -> str:
    return number_format(value, 1)


def heatmap_svg(
    bundle: Bundle, waiting_days: Mapping[str, float | None], lane_names: Mapping[str, str]
) -> str:
    """SVG of the main process; `waiting_days` maps a user task's element id to its median waiting days."""
    main = bundle.main_process_id
    nodes = [n for n in bundle.model["nodes"] if n["process"] == main and n["parent"] == main]
    ids = {n["id"] for n in nodes}
    graph = graphviz.Digraph("heatmap", format="svg")
    graph.attr(
        rankdir="LR", fontname="Helvetica", fontsize="11", newrank="true", nodesep="0.3", ranksep="0.35"
    )
    graph.attr(
        "node", fontname="Helvetica", fontsize="10", style="filled", fillcolor="#ffffff", color="#59636e"
    )
    by_lane: dict[str, list[dict]] = {}
    for node in nodes:
        by_lane.setdefault(bundle.lane_of(node["id"], main) or "", []).append(node)
    for lane, members in by_lane.items():
        with graph.subgraph(name=f"cluster_{lane or 'none'}") as cluster:
            cluster.attr(
                label=lane_names.get(lane, lane),
                labeljust="l",
                fontsize="13",
                style="rounded,filled",
                fillcolor="#fbfbfc",
                color="#b8c0c8",
            )
            for node in members:
                _add_node(cluster, node, waiting_days)
    for flow in bundle.model["flows"]:
        if flow["process"] == main and flow["source"] in ids and flow["target"] in ids:
            graph.edge(flow["source"], flow["target"], label=flow.get("name") or "", fontsize="9")
    for node in nodes:
        if node["type"] == "boundaryEvent" and node.get("attached_to") in ids:
            graph.edge(node["attached_to"], node["id"], style="dashed", arrowhead="none")
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label=_("Median waiting time"), style="rounded", color="#b8c0c8")
        previous = 0.0
        keys: list[str] = []
        for upper, fill, ink in HEAT:
            text = (
                _("under %(days)s days") % {"days": _days(upper)}
                if previous == 0
                else _("%(low)s–%(high)s days") % {"low": _days(previous), "high": _days(upper)}
                if upper != float("inf")
                else _("%(days)s days or more") % {"days": _days(previous)}
            )
            legend.node(f"legend_{len(keys)}", text, shape="box", fillcolor=fill, fontcolor=ink)
            keys.append(f"legend_{len(keys)}")
            previous = upper
        legend.node(
            "legend_none", _("no completed tasks"), shape="box", fillcolor=NO_DATA[0], fontcolor=NO_DATA[1]
        )
        # Invisible edges lay the legend out in one row, left to right.
        for left, right in zip(keys, [*keys[1:], "legend_none"], strict=True):
            legend.edge(left, right, style="invis")
    svg = graph.pipe(format="svg", encoding="utf-8")
    # Inline in the page: drop the XML prolog and DOCTYPE, and describe the picture for screen readers.
    svg = re.sub(r"^.*?(<svg)", r"\1", svg, flags=re.S)
    return svg.replace(
        "<svg ", f'<svg role="img" aria-label="{escape(_("Process diagram with waiting times"))}" ', 1
    )


def _add_node(graph: graphviz.Digraph, node: dict, waiting_days: Mapping[str, float | None]) -> None:
    kind = node["type"]
    name = node.get("name") or ""
    if kind in ("userTask", "manualTask"):
        days = waiting_days.get(node["id"])
        fill, ink = heat_colour(days)
        measure = _("median wait %(days)s d") % {"days": _days(days)} if days is not None else _("no data")
        graph.node(
            node["id"],
            f"{textwrap.fill(name, 26)}\n{measure}",
            shape="box",
            style="rounded,filled",
            fillcolor=fill,
            fontcolor=ink,
        )
    elif kind in SHAPES:
        shape, symbol = SHAPES[kind]
        graph.node(
            node["id"], symbol, xlabel=name, shape=shape, width="0.35", height="0.35", fixedsize="true"
        )
    elif kind == "boundaryEvent":
        graph.node(
            node["id"],
            "",
            xlabel=name,
            shape="circle",
            width="0.3",
            fixedsize="true",
            fontsize="8",
        )
    else:
        graph.node(node["id"], name or node["id"], shape="box", style="rounded,filled", fillcolor="#ffffff")
