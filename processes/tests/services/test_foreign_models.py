"""Models drawn with other tools import as drafts: cleanly, or with problems that name the element.

Fixtures (written by hand after each tool's output conventions): a bpmn.io collaboration with two lanes,
a second (non-executable) pool, message flows between the pools and a text annotation; a Camunda
Modeler 5 diagram with camunda: attributes and extension elements and a JUEL `${...}` condition.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from organisation.tests.factories import UserFactory
from processes.models import ProcessVersion
from processes.services.drafts import process_draft_from_upload, process_draft_publish, process_draft_save

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"
FORM = {
    "title": "Informera",
    "type": "object",
    "properties": {"note": {"type": "string", "title": "Anteckning", "x-label-en": "Note"}},
}
SPIFF_FORM = (
    '<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" '
    'value="note.schema.json" /></spiffworkflow:properties></bpmn:extensionElements>'
)


@pytest.fixture
def maja(db):
    user = UserFactory(username="maja")
    user.user_permissions.add(Permission.objects.get(codename="manage_process"))
    return user


def _codes(draft) -> set[tuple[str, str]]:
    return {(p["code"], p["element_id"]) for p in draft.problems}


def test_a_bpmn_io_collaboration_imports_and_publishes_once_its_tasks_have_forms(maja):
    content = (FIXTURES / "bpmnio_collaboration.bpmn").read_bytes()
    draft = process_draft_from_upload(key="stod_bpmnio", content=content, author=maja)
    assert draft.manifest["process_id"] == "Process_0l1h3yq"
    assert _codes(draft) == {("missing_form", "Activity_0inform"), ("missing_form", "Activity_1beslut")}
    assert all(p["message"] for p in draft.problems)

    text = content.decode()
    text = text.replace(
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI"',
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"',
    )
    for task in ('name="Informera vårdnadshavare">', 'name="Besluta">'):
        text = text.replace(task, task + SPIFF_FORM)
    fixed = process_draft_save(key="stod_bpmnio", bpmn=text, forms={"note.schema.json": FORM}, author=maja)
    assert fixed.problems == []
    version = process_draft_publish(fixed, actor=maja)
    assert version.status == ProcessVersion.Status.PUBLISHED
    assert {n["lane"] for n in fixed.model["nodes"] if n["lane"]} == {"teacher", "principal"}


def test_a_camunda_modeler_diagram_gets_clear_problems_never_a_stack_trace(maja):
    draft = process_draft_from_upload(
        key="ledighet", content=(FIXTURES / "camunda_modeler.bpmn").read_bytes(), author=maja
    )
    assert draft.manifest["process_id"] == "ledighet"
    assert _codes(draft) == {("invalid_condition", "Flow_ja"), ("missing_form", "Activity_pruva")}
    # The hidden guardian pool is context, never "unreachable"; camunda: attributes are ignored quietly.
    assert not any(p["element_id"] == "Activity_ansok" for p in draft.problems)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"<bpmn:definitions", "xml_malformed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', "xml_unsafe"),
        (b"<html><body>not bpmn</body></html>", "parse_error"),
    ],
)
def test_broken_or_hostile_uploads_become_drafts_with_one_problem(maja, content, code):
    draft = process_draft_from_upload(key="trasig", content=content, author=maja)
    assert [p["code"] for p in draft.problems] == [code]
