"""Valid form data generated from a task's JSON Schema, for walking a model through the services."""

from __future__ import annotations

from datetime import date
from typing import Any

from organisation.services.demo import demo_personnummer

_FORMAT_VALUES = {
    "date": lambda: date.today().isoformat(),
    "date-time": lambda: "2025-08-18T08:00:00+02:00",
    "email": lambda: "vardnadshavare@example.se",
    "phone": lambda: "070-123 45 67",
    "personnummer": lambda: demo_personnummer(date(2016, 5, 17), 238),
}


def value_for(schema: dict[str, Any], choice: int) -> Any:
    """`choice` picks among alternatives (enum entries, booleans) so walks can take other branches."""
    if "enum" in schema:
        options = schema["enum"]
        return options[choice % len(options)]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "boolean":
        return choice % 2 == 0
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(max(schema.get("minimum", 1), 1))
    if kind == "array":
        return [value_for(schema.get("items", {}), choice) for _ in range(max(schema.get("minItems", 1), 1))]
    if kind == "object":
        return form_data_for(schema, choice)
    if schema.get("format") in _FORMAT_VALUES:
        return _FORMAT_VALUES[schema["format"]]()
    return "Text " * max(1, int(schema.get("minLength", 1)) // 5 + 1)


def form_data_for(schema: dict[str, Any], choice: int = 0) -> dict[str, Any]:
    """Every required field plus every field a condition may read (all non-read-only ones)."""
    data = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("readOnly"):
            continue
        data[name] = value_for(prop, choice)
    return data
