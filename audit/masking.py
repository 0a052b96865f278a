"""Which values in an event's before/after are personal data, and how they are hidden.

Two strengths: `payload_mask` hides them from a reader who is not entitled (the audit trail itself keeps
them), `payload_redact` removes them for good when the retention period has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from organisation.personnummer import PERSONNUMMER_IN_TEXT, mask_in_text

MASK = "•••"
# Keys the platform itself writes into before/after: no personal data, and dashboards read some.
PLATFORM_KEYS = frozenset(
    {"due_at", "fired_at", "process", "version", "end_events", "code", "claimed_by", "recipients"}
)
# Form formats that are personal data in any process (docs/conventions.md).
PERSONAL_FORMATS = frozenset({"personnummer", "email", "phone"})
# Free text in a sensitive process (health, support needs) is hidden unless it is a date.
NON_FREE_TEXT_FORMATS = frozenset({"date", "date-time"})
# Processes whose cases are sensitive even if their manifest does not say so.
SENSITIVE_PROCESS_KEYS = frozenset({"special_support"})


def version_is_sensitive(version: Any) -> bool:
    """A special-support case, or any case whose version manifest declares `"sensitive": true`."""
    manifest = version.manifest or {}
    return bool(manifest.get("sensitive")) or manifest.get("key") in SENSITIVE_PROCESS_KEYS


def _properties(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict):
            yield name, prop
            yield from _properties(prop)
            yield from _properties(prop.get("items"))
    yield from _properties(schema.get("items"))


def _name_like(key: str) -> bool:
    lowered = key.lower()
    return lowered == "name" or lowered.endswith("_name") or lowered.endswith("namn")


def personal_keys(version: Any, *, sensitive: bool) -> frozenset[str]:
    """Form fields of the version whose values are personal data for this purpose."""
    keys = set()
    for schema in (version.forms or {}).values():
        for name, prop in _properties(schema):
            fmt = prop.get("format", "")
            free_text = (
                prop.get("type") == "string" and "enum" not in prop and fmt not in NON_FREE_TEXT_FORMATS
            )
            if fmt in PERSONAL_FORMATS or _name_like(name) or (sensitive and free_text):
                keys.add(name)
    return frozenset(keys)


def field_labels(version: Any) -> dict[str, str]:
    """Form field names → their (Swedish) titles, so that a history reads like the forms did."""
    return {
        name: prop["title"]
        for schema in (version.forms or {}).values()
        for name, prop in _properties(schema)
        if isinstance(prop.get("title"), str)
    }


def enum_values(version: Any) -> frozenset[str]:
    """Coded answers (decisions, reasons): statistics, not personal data."""
    values: set[str] = set()
    for schema in (version.forms or {}).values():
        for _name, prop in _properties(schema):
            values.update(v for v in prop.get("enum", []) if isinstance(v, str))
    return frozenset(values)


def _hide_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _hide_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hide_all(item) for item in value]
    return MASK if isinstance(value, str) and value else value


def payload_mask(value: Any, keys: frozenset[str]) -> Any:
    """Hide the values of `keys` (wherever they are nested) and every personnummer in any text."""
    if isinstance(value, dict):
        return {
            key: _hide_all(item) if key in keys or _name_like(key) else payload_mask(item, keys)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [payload_mask(item, keys) for item in value]
    if isinstance(value, str):
        return mask_in_text(value)
    return value


def payload_has_personnummer(value: Any) -> bool:
    if isinstance(value, dict):
        return any(payload_has_personnummer(item) for item in value.values())
    if isinstance(value, list):
        return any(payload_has_personnummer(item) for item in value)
    return isinstance(value, str) and PERSONNUMMER_IN_TEXT.search(value) is not None


def payload_redact(value: Any, keep: frozenset[str]) -> Any:
    """For retention: every text value goes, except coded answers in `keep` and platform keys.

    Keys, numbers, booleans and the structure stay, so counts and shapes of answers survive.
    """
    if isinstance(value, dict):
        return {
            key: item if key in PLATFORM_KEYS else payload_redact(item, keep) for key, item in value.items()
        }
    if isinstance(value, list):
        return [payload_redact(item, keep) for item in value]
    if isinstance(value, str) and value and value not in keep:
        return MASK
    return value
