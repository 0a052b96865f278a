"""bench/load_forms.py: the load test's answers are valid, or invalid on purpose, for every form in the
library, by the platform's own validator."""

import json
import sys
from pathlib import Path

import pytest
from django.conf import settings

from processes.services.forms import form_data_errors

sys.path.insert(0, str(Path(settings.BASE_DIR) / "bench"))
from load_forms import field_value, form_data_invalid, form_data_valid  # noqa: E402

FORMS = sorted((Path(settings.BASE_DIR) / "bpmn").glob("*/forms/*.schema.json"))


def _schema(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", FORMS, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_valid_data_passes_the_platforms_validation(path):
    schema = _schema(path)
    data = form_data_valid(schema)
    assert form_data_errors(schema, data) == {}
    assert not {name for name, prop in schema["properties"].items() if prop.get("readOnly")} & set(data)


@pytest.mark.parametrize("path", FORMS, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_invalid_data_is_refused(path):
    schema = _schema(path)
    invalid = form_data_invalid(schema)
    assert invalid is not None
    assert form_data_errors(schema, invalid) != {}


def test_the_same_schema_gives_the_same_data():
    schema = _schema(FORMS[0])
    assert form_data_valid(schema) == form_data_valid(schema)
    assert form_data_invalid(schema) == form_data_invalid(schema)


def test_strings_keep_within_their_length_limits():
    assert len(field_value({"type": "string", "minLength": 50})) >= 50
    assert len(field_value({"type": "string", "maxLength": 3})) <= 3
    assert field_value({"type": "integer", "minimum": 3, "maximum": 9}) == 3


def test_a_form_with_nothing_required_gets_a_wrong_type():
    schema = {"type": "object", "properties": {"note": {"type": "string"}}, "additionalProperties": False}
    assert form_data_errors(schema, form_data_invalid(schema)) != {}
    assert form_data_invalid({"type": "object", "properties": {}}) is None
