"""Server-side validation of task form data against the schema pinned in the version."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator, FormatChecker

from organisation import personnummer

form_format_checker = FormatChecker()


@form_format_checker.checks("personnummer")
def _is_personnummer(value: object) -> bool:
    return not isinstance(value, str) or personnummer.is_valid(value)


@form_format_checker.checks("phone")
def _is_phone(value: object) -> bool:
    return not isinstance(value, str) or re.fullmatch(r"\+?[0-9][0-9 \-]{5,19}", value) is not None


def _field_of(error: Any) -> str:
    if error.validator == "required":
        match = re.search(r"'([^']+)' is a required property", error.message)
        return match.group(1) if match else "__all__"
    if error.validator == "additionalProperties":
        return "__all__"
    return ".".join(str(p) for p in error.absolute_path) or "__all__"


def _message_of(error: Any, schema: dict[str, Any]) -> str:
    field = _field_of(error)
    label = schema.get("properties", {}).get(field, {}).get("title", field)
    if error.validator == "required":
        return _("%(field)s is required.") % {"field": label}
    if error.validator == "format":
        return _("%(field)s has the wrong format (%(format)s).") % {
            "field": label,
            "format": error.validator_value,
        }
    if error.validator == "enum":
        return _("Choose one of the alternatives for %(field)s.") % {"field": label}
    if error.validator == "type":
        return _("%(field)s has the wrong type.") % {"field": label}
    return _("%(field)s is not valid.") % {"field": label}


def form_data_errors(schema: dict[str, Any], data: Any) -> dict[str, list[str]]:
    """Field name → messages a person can act on. Empty when the data is valid."""
    errors: dict[str, list[str]] = {}
    if isinstance(data, dict):
        # Whatever the schema allows, never let a form write instance variables it does not ask for:
        # they would reach gateway conditions (`score`, `decision`) unchecked.
        unknown = sorted(set(data) - set(schema.get("properties", {})))
        if unknown:
            errors["__all__"] = [
                _("The form contains fields it does not ask for: %(fields)s.")
                % {"fields": ", ".join(unknown)}
            ]
    validator = Draft202012Validator(schema, format_checker=form_format_checker)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        if error.validator == "additionalProperties":
            continue  # reported above, with the field names
        errors.setdefault(_field_of(error), []).append(_message_of(error, schema))
    return errors


def form_prefill(schema: dict[str, Any] | None, case_data: dict[str, Any]) -> dict[str, Any]:
    """Values the case already knows (from the registry or earlier steps) for this form's fields, so
    nothing is asked twice. Read-only fields are shown from here and never taken from a POST."""
    if not schema:
        return {}
    return {name: case_data[name] for name in schema.get("properties", {}) if name in case_data}


def form_read_only_enforced(
    schema: dict[str, Any], data: dict[str, Any], prefill: dict[str, Any]
) -> dict[str, Any]:
    """`data` with every read-only field set to what the case knew, or removed if it knew nothing:
    whatever a client sends, a person cannot overwrite the registry's values through a form."""
    result = dict(data)
    for name, prop in schema.get("properties", {}).items():
        if prop.get("readOnly"):
            if name in prefill:
                result[name] = prefill[name]
            else:
                result.pop(name, None)
        elif prop.get("type") == "object" and isinstance(result.get(name), dict):
            nested_prefill = prefill.get(name) if isinstance(prefill.get(name), dict) else {}
            result[name] = form_read_only_enforced(prop, result[name], nested_prefill)
    return result
