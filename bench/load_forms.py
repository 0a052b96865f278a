# bench/run: not a benchmark
"""Form data for the load test's users, derived from a task's JSON Schema: valid answers, and invalid ones
the server must refuse with 422 `form_invalid`.

Deterministic (the same schema gives the same data) and free of Django and Locust, so bench/locustfile.py
can use it inside Locust's gevent process and tests/bench/test_load_forms.py can check it against the
platform's own validator. tests/formdata.py does the same for the scenario tests, but needs Django.
Read-only fields are left out: the server fills them from the case (form_read_only_enforced).
"""

from __future__ import annotations

from typing import Any

# Valid for the platform's format checkers (processes/services/forms.py) and the library's patterns.
FORMAT_VALUES = {
    "date": "2026-11-23",
    "date-time": "2026-11-23T08:00:00+01:00",
    "email": "vardnadshavare@example.se",
    "phone": "070-123 45 67",
    "personnummer": "201605172384",  # check digit 4: Luhn over 160517238
}


def field_value(schema: dict[str, Any]) -> Any:
    """A valid value for one field: the first alternative, the smallest allowed number, a string of
    the right length."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        value = schema.get("minimum", 0)
        return int(value) if kind == "integer" else float(value)
    if kind == "object":
        return form_data_valid(schema)
    if kind == "array":
        return [field_value(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "null":
        return None
    if schema.get("format") in FORMAT_VALUES:
        return FORMAT_VALUES[schema["format"]]
    text = "Svar från lasttestet"
    minimum, maximum = int(schema.get("minLength", 0)), int(schema.get("maxLength", len(text)))
    return (text * (minimum // len(text) + 1))[: max(minimum, min(len(text), maximum))]


def form_data_valid(schema: dict[str, Any]) -> dict[str, Any]:
    """Every field the person may answer (all but the read-only ones), each with a valid value."""
    return {
        name: field_value(prop)
        for name, prop in schema.get("properties", {}).items()
        if not prop.get("readOnly")
    }


def form_data_invalid(schema: dict[str, Any]) -> dict[str, Any] | None:
    """Valid data less its first required answer (the commonest mistake: a field left empty), or with a
    wrong type where nothing is required; None for a form with nothing to answer."""
    data = form_data_valid(schema)
    required = [name for name in schema.get("required", []) if name in data]
    if required:
        del data[required[0]]
        return data
    if data:
        first = next(iter(data))
        data[first] = {"not": "a value"} if not isinstance(data[first], dict) else "not an object"
        return data
    return None
