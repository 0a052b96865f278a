"""The one form renderer: a task's JSON Schema → fields for the template, and a POST → typed data.

Swedish labels come from each property's `title`, English from `x-label-en`; enum options from
`x-enum-labels` ({value: {sv, en}}). Nested objects become fieldsets, field names are dotted paths.
Read-only properties are shown with their prefilled value and never read back from the POST.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

MAX_TEXT_LENGTH = 10_000  # a form field longer than this is refused, whatever the schema says


@dataclass
class Field:
    name: str
    label: str
    kind: (
        str  # text textarea date email tel number integer personnummer select radio boolean checkboxes group
    )
    required: bool = False
    value: Any = None
    errors: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    read_only: bool = False
    children: list[Field] = field(default_factory=list)

    @property
    def display(self) -> str:
        """A read-only value as a person reads it (a personnummer with its dash)."""
        if self.value is None or self.value == "":
            return "–"
        text = str(self.value)
        if self.kind == "personnummer" and len(text) == 12 and text.isdigit():
            return f"{text[:8]}-{text[8:]}"
        return text

    @property
    def html_id(self) -> str:
        return "f-" + self.name.replace(".", "-")


def _english() -> bool:
    return (get_language() or "sv").startswith("en")


def label_of(schema: dict[str, Any], fallback: str) -> str:
    if _english() and schema.get("x-label-en"):
        return str(schema["x-label-en"])
    return str(schema.get("title") or fallback.replace("_", " ").capitalize())


def _option_label(schema: dict[str, Any], value: Any) -> str:
    labels = schema.get("x-enum-labels", {}).get(str(value))
    if isinstance(labels, dict):
        return str(labels.get("en" if _english() else "sv") or labels.get("sv") or value)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return str(value).replace("_", " ").capitalize()


def _kind_of(prop: dict[str, Any]) -> str:
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        return "group"
    if "enum" in prop:
        return "radio" if len(prop["enum"]) <= 4 else "select"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        return "checkboxes" if "enum" in prop.get("items", {}) else "lines"
    if kind in ("integer", "number"):
        return kind
    return {
        "date": "date",
        "email": "email",
        "phone": "tel",
        "personnummer": "personnummer",
        "date-time": "datetime",
    }.get(
        prop.get("format", ""),
        "textarea" if prop.get("maxLength", 0) > 200 or prop.get("x-multiline") else "text",
    )


def form_fields(
    schema: dict[str, Any],
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    prefix: str = "",
) -> list[Field]:
    values, errors = values or {}, errors or {}
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        kind = _kind_of(prop)
        current = values.get(name) if isinstance(values, dict) else None
        item = Field(
            name=path,
            label=label_of(prop, name),
            kind=kind,
            required=name in required,
            value=current,
            errors=list(errors.get(path, [])),
            read_only=bool(prop.get("readOnly")),
        )
        if kind == "group":
            item.children = form_fields(
                prop, current if isinstance(current, dict) else {}, errors, f"{path}."
            )
        elif kind in ("radio", "select"):
            item.options = [
                (str(v).lower() if isinstance(v, bool) else str(v), _option_label(prop, v))
                for v in prop["enum"]
            ]
        elif kind == "checkboxes":
            item.options = [(str(v), _option_label(prop["items"], v)) for v in prop["items"]["enum"]]
        elif kind == "boolean":
            item.options = [("true", _("Yes")), ("false", _("No"))]
        fields.append(item)
    return fields


def _typed(prop: dict[str, Any], raw: str, kind: str) -> Any:
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    if kind in ("radio", "select"):
        for option in prop["enum"]:
            if (str(option).lower() if isinstance(option, bool) else str(option)) == raw:
                return option
        return raw
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "number":
        try:
            return float(raw.replace(",", "."))
        except ValueError:
            return raw
    return raw


def form_data_from_post(
    schema: dict[str, Any], post: Any, prefix: str = ""
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Typed data for validation, and errors found while reading (too long text).

    Empty inputs are left out so that `required` reports them; read-only fields are never read from
    the POST (the completion service sets them from the case, so editing the HTML changes nothing).
    """
    data: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        kind = _kind_of(prop)
        if prop.get("readOnly"):
            continue  # the completion service fills these from what the case knew
        if kind == "group":
            nested, nested_problems = form_data_from_post(prop, post, f"{path}.")
            problems.update(nested_problems)
            if nested:
                data[name] = nested
            continue
        if kind == "checkboxes":
            chosen = post.getlist(path)
            if chosen or path + "__present" in post:
                data[name] = [_typed(prop["items"], v, "radio") for v in chosen]
            continue
        raw = post.get(path, "")
        raw = raw.strip() if isinstance(raw, str) else raw
        if raw in ("", None):
            continue
        if len(raw) > MAX_TEXT_LENGTH:
            problems[path] = [
                _("The text is too long (at most %(max)s characters).") % {"max": MAX_TEXT_LENGTH}
            ]
            continue
        if kind == "lines":
            data[name] = [line.strip() for line in raw.splitlines() if line.strip()]
        else:
            data[name] = _typed(prop, raw, kind)
    return data, problems
