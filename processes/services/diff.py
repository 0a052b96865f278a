"""Structural differences between two versions or drafts of a process: elements, lanes, flows,
conditions, timers and form fields added, removed or changed. Computed from the stored structural
models (Bundle.model / ProcessDraft.model), never from SpiffWorkflow objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from processes.models import ProcessDraft, ProcessVersion
from processes.services.bundles import bundle_for_version

CHANGE_LABELS = {"added": _("Added"), "removed": _("Removed"), "changed": _("Changed")}
KIND_LABELS = {"element": _("element"), "flow": _("flow"), "lane": _("lane"), "form_field": _("form field")}
NODE_FACTS = ("type", "name", "lane", "form", "called_element", "called_decision", "attached_to", "message")


@dataclass
class Change:
    kind: str  # element, flow, lane, form_field
    change: str  # added, removed, changed
    id: str
    label: str
    details: list[str] = field(default_factory=list)

    @property
    def change_label(self) -> str:
        return str(CHANGE_LABELS.get(self.change, self.change))

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS.get(self.kind, self.kind))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "change": self.change,
            "id": self.id,
            "label": self.label,
            "details": self.details,
        }


@dataclass
class ModelDiff:
    changes: list[Change]
    form_users: list[str] = field(default_factory=list)  # tasks whose form's fields changed

    @property
    def added(self) -> list[str]:
        return [c.id for c in self.changes if c.change == "added" and c.kind in ("element", "flow")]

    @property
    def changed(self) -> list[str]:
        ids = [c.id for c in self.changes if c.change == "changed" and c.kind in ("element", "flow")]
        return ids + [i for i in self.form_users if i not in ids and i not in self.added]

    @property
    def removed(self) -> list[Change]:
        return [c for c in self.changes if c.change == "removed"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.changes],
            "added": self.added,
            "changed": self.changed,
            "removed": [c.id for c in self.removed],
        }


def model_of(source: ProcessVersion | ProcessDraft) -> tuple[dict[str, Any], dict[str, Any]]:
    """(structural model, forms) of a version or a draft; an unparseable draft has an empty model."""
    if isinstance(source, ProcessVersion):
        return bundle_for_version(source).model, source.forms
    return source.model or {"processes": {}, "nodes": [], "flows": []}, source.forms or {}


def _timer_text(node: dict[str, Any]) -> str | None:
    timer = node.get("timer")
    return f"{timer.get('type')}: {timer.get('expression')}" if timer else None


def _node_label(node: dict[str, Any]) -> str:
    return f"{node.get('name') or node['id']} ({node['type']})"


def _fields(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        path = f"{prefix}{name}"
        found[path] = {
            "type": prop.get("type"),
            "format": prop.get("format"),
            "title": prop.get("title"),
            "enum": prop.get("enum"),
            "required": name in required,
        }
        if prop.get("type") == "object":
            found.update(_fields(prop, f"{path}."))
    return found


def model_diff(
    old: tuple[dict[str, Any], dict[str, Any]], new: tuple[dict[str, Any], dict[str, Any]]
) -> ModelDiff:
    """What changed from `old` to `new` (each a (model, forms) pair, see model_of)."""
    (old_model, old_forms), (new_model, new_forms) = old, new
    changes: list[Change] = []
    old_nodes = {(n["process"], n["id"]): n for n in old_model.get("nodes", [])}
    new_nodes = {(n["process"], n["id"]): n for n in new_model.get("nodes", [])}
    for key in sorted(new_nodes.keys() - old_nodes.keys()):
        changes.append(Change("element", "added", key[1], _node_label(new_nodes[key])))
    for key in sorted(old_nodes.keys() - new_nodes.keys()):
        changes.append(Change("element", "removed", key[1], _node_label(old_nodes[key])))
    for key in sorted(old_nodes.keys() & new_nodes.keys()):
        a, b = old_nodes[key], new_nodes[key]
        details = [
            f"{fact}: {a.get(fact)!r} → {b.get(fact)!r}" for fact in NODE_FACTS if a.get(fact) != b.get(fact)
        ]
        if _timer_text(a) != _timer_text(b):
            details.append(f"timer: {_timer_text(a)!r} → {_timer_text(b)!r}")
        if details:
            changes.append(Change("element", "changed", key[1], _node_label(b), details))
    old_flows = {(f["process"], f["id"]): f for f in old_model.get("flows", [])}
    new_flows = {(f["process"], f["id"]): f for f in new_model.get("flows", [])}

    def flow_label(f: dict[str, Any]) -> str:
        return f"{f.get('name') or f['id']}: {f['source']} → {f['target']}"

    for key in sorted(new_flows.keys() - old_flows.keys()):
        changes.append(Change("flow", "added", key[1], flow_label(new_flows[key])))
    for key in sorted(old_flows.keys() - new_flows.keys()):
        changes.append(Change("flow", "removed", key[1], flow_label(old_flows[key])))
    for key in sorted(old_flows.keys() & new_flows.keys()):
        a, b = old_flows[key], new_flows[key]
        details = [
            f"{fact}: {a.get(fact)!r} → {b.get(fact)!r}"
            for fact in ("source", "target", "name", "condition")
            if a.get(fact) != b.get(fact)
        ]
        if details:
            changes.append(Change("flow", "changed", key[1], flow_label(b), details))
    old_lanes = {n["lane"] for n in old_nodes.values() if n.get("lane")}
    new_lanes = {n["lane"] for n in new_nodes.values() if n.get("lane")}
    changes += [Change("lane", "added", lane, lane) for lane in sorted(new_lanes - old_lanes)]
    changes += [Change("lane", "removed", lane, lane) for lane in sorted(old_lanes - new_lanes)]
    for form in sorted(set(old_forms) | set(new_forms)):
        a_fields = _fields(old_forms.get(form) or {})
        b_fields = _fields(new_forms.get(form) or {})
        for name in sorted(b_fields.keys() - a_fields.keys()):
            changes.append(Change("form_field", "added", f"{form}#{name}", f"{form}: {name}"))
        for name in sorted(a_fields.keys() - b_fields.keys()):
            changes.append(Change("form_field", "removed", f"{form}#{name}", f"{form}: {name}"))
        for name in sorted(a_fields.keys() & b_fields.keys()):
            a, b = a_fields[name], b_fields[name]
            details = [f"{fact}: {a[fact]!r} → {b[fact]!r}" for fact in a if a[fact] != b[fact]]
            if details:
                changes.append(Change("form_field", "changed", f"{form}#{name}", f"{form}: {name}", details))
    touched = {c.id.split("#", 1)[0] for c in changes if c.kind == "form_field"}
    users = sorted({n["id"] for n in new_nodes.values() if n.get("form") in touched})
    return ModelDiff(changes, users)


def process_diff(old: ProcessVersion | ProcessDraft, new: ProcessVersion | ProcessDraft) -> ModelDiff:
    """The structural diff between two versions or drafts (of the same process or not)."""
    return model_diff(model_of(old), model_of(new))
