"""A process owner uploads a model, sees its validation error, fixes it in the modeller, publishes it and
pilots it at Ekbackeskolan; a teacher there starts a case and it runs on the pilot version, while
Strandskolan keeps the baseline. Screenshots go to var/browser-artifacts/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from organisation.models import Pupil, SchoolUnit
from organisation.services.demo import DEMO_PASSWORD, demo_data_load
from processes.models import ProcessDraft, ProcessInstance, ProcessVersion
from processes.services.pilots import process_version_for_unit
from processes.services.versions import BundleFiles, process_version_deploy, process_version_publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "browser-artifacts"
FIXTURE = ROOT / "processes" / "tests" / "services" / "fixtures" / "bpmnio_collaboration.bpmn"
SPIFF_NS = 'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
NOTE_FORM = {
    "title": "Anteckning",
    "type": "object",
    "properties": {"note": {"type": "string", "title": "Anteckning"}},
}
DECISION_FORM = {
    "title": "Beslut",
    "type": "object",
    "required": ["motivation"],
    "properties": {"motivation": {"type": "string", "title": "Motivering av beslutet"}},
}


def _with_forms(decision_form: str) -> str:
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace(
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI"',
        f'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" {SPIFF_NS}',
    )
    for task, form in (
        ('name="Informera vårdnadshavare">', "note.schema.json"),
        ('name="Besluta">', decision_form),
    ):
        text = text.replace(
            task,
            task + "<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property "
            f'name="formJsonSchemaFilename" value="{form}" /></spiffworkflow:properties>'
            "</bpmn:extensionElements>",
        )
    return text


def log_in(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login/")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_selector("text=Välkommen")


@pytest.fixture
def bpmn_js() -> None:
    if not (ROOT / "node_modules" / "bpmn-js" / "dist" / "bpmn-modeler.production.min.js").is_file():
        message = "node_modules/bpmn-js is missing: run bin/install (it runs `npm ci`)"
        if os.environ.get("SKOLFLODE_REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_owner_uploads_fixes_publishes_and_pilots_a_model(live_server, page, bpmn_js):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    demo_data_load()
    baseline, _ = process_version_deploy(
        BundleFiles(
            manifest={"key": "stod_pilot", "name": {"sv": "Stöd (pilot)"}, "process_id": "Process_0l1h3yq"},
            files={"stod_pilot.bpmn": _with_forms("note.schema.json")},
            forms={"note.schema.json": NOTE_FORM},
        )
    )
    process_version_publish(baseline)
    owner = get_user_model().objects.create_user("processagare", password=DEMO_PASSWORD, first_name="Paula")
    owner.user_permissions.add(Permission.objects.get(codename="manage_process"))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    base = live_server.url

    log_in(page, base, "processagare")
    page.get_by_role("link", name="Processer").click()
    page.wait_for_selector("table.catalogue")
    page.screenshot(path=str(ARTIFACTS / "owner-catalogue.png"), full_page=True)

    # Upload a changed model whose decision step names a form that does not exist yet.
    page.fill("#upload-key", "stod_pilot")
    page.set_input_files(
        "#upload-file",
        files=[
            {
                "name": "stod.bpmn",
                "mimeType": "application/xml",
                "buffer": _with_forms("beslut.schema.json").encode(),
            }
        ],
    )
    page.fill("#upload-changelog", "Beslutet får ett eget formulär")
    page.click("form[action$='/owner/upload/'] button[type=submit]")
    page.wait_for_selector("#modeler-canvas[data-ready='true']")
    problem = page.locator(".problem[data-element-id='Activity_1beslut']")
    assert "beslut.schema.json" in page.locator("#problems").inner_text()
    assert page.locator("form[action*='/publish/'] button").is_disabled()
    problem.click()
    selected = page.evaluate("window.skolflodeModeler.get('selection').get().map((e) => e.id)")
    assert selected == ["Activity_1beslut"]
    assert page.input_value("#task-form-name") == "beslut.schema.json"
    page.screenshot(path=str(ARTIFACTS / "owner-modeler-problem.png"), full_page=True)

    # Fix it: add the form in the JSON editor; the preview shows its field at once.
    page.fill("#forms-json", json.dumps({"note.schema.json": NOTE_FORM, "beslut.schema.json": DECISION_FORM}))
    page.wait_for_selector("#form-preview >> text=Motivering av beslutet")
    page.fill("#changelog", "Formulär för beslutet")
    page.click("#modeler-form button[type=submit]")
    page.wait_for_selector("#problems .ok")
    page.wait_for_selector("#modeler-canvas[data-ready='true']")
    page.screenshot(path=str(ARTIFACTS / "owner-modeler-clean.png"), full_page=True)
    page.click("form[action*='/publish/'] button")
    page.wait_for_selector("#pilots-heading")
    piloted = ProcessVersion.objects.get(definition__key="stod_pilot", number=2)
    assert piloted.status == ProcessVersion.Status.PUBLISHED and "beslut.schema.json" in piloted.forms

    # The diff of the baseline and the new version, as a list and coloured on the diagram.
    page.goto(f"{base}/processes/owner/stod_pilot/diff/?from=v{baseline.pk}&to=v{piloted.pk}")
    page.wait_for_selector("#diff-canvas[data-ready='true']")
    assert page.locator(".changes [data-change-id='beslut.schema.json#motivation']").count() == 1
    assert (
        page.locator("#diff-canvas .djs-element.diff-changed[data-element-id='Activity_1beslut']").count()
        == 1
    )
    page.screenshot(path=str(ARTIFACTS / "owner-diff.png"), full_page=True)
    page.goto(f"{base}/processes/owner/stod_pilot/")

    ekbacke = SchoolUnit.objects.get(name="Ekbackeskolan")
    page.select_option("#pilot-version", str(piloted.pk))
    page.select_option("#pilot-unit", str(ekbacke.pk))
    page.click("form[action$='/pilots/'] button[type=submit]")
    page.wait_for_selector("text=Ekbackeskolan")
    page.screenshot(path=str(ARTIFACTS / "owner-pilot.png"), full_page=True)

    # A teacher at Ekbackeskolan starts a case: it runs on the pilot; Strandskolan keeps the baseline.
    pupil = Pupil.objects.filter(unit=ekbacke).order_by("pk").first()
    log_in(page, base, "larare.ekbacke")
    page.goto(f"{base}/processes/start/")
    page.select_option("#start-process", "stod_pilot")
    page.select_option("#start-pupil", str(pupil.pk))
    page.click("form button[type=submit].primary")
    page.wait_for_load_state()
    case = ProcessInstance.objects.get(version__definition__key="stod_pilot", pupil=pupil)
    assert case.version == piloted
    assert process_version_for_unit("stod_pilot", SchoolUnit.objects.get(name="Strandskolan")) == baseline
    page.screenshot(path=str(ARTIFACTS / "owner-pilot-case.png"), full_page=True)

    # Editing in the modeller: rename a task on the canvas and give it another form, then save.
    log_in(page, base, "processagare")
    page.goto(f"{base}/processes/owner/stod_pilot/model/?version={piloted.pk}")
    page.wait_for_selector("#modeler-canvas[data-ready='true']")
    page.evaluate(
        """() => {
          const modeler = window.skolflodeModeler;
          const task = modeler.get('elementRegistry').get('Activity_0inform');
          modeler.get('modeling').updateLabel(task, 'Informera hemmet');
          modeler.get('selection').select(task);
        }"""
    )
    page.fill("#task-form-name", "beslut.schema.json")
    page.dispatch_event("#task-form-name", "change")
    page.wait_for_selector("#form-preview >> text=Motivering av beslutet")
    page.fill("#changelog", "Nytt namn och formulär")
    page.click("#modeler-form button[type=submit]")
    page.wait_for_selector("#problems .ok")
    draft = ProcessDraft.objects.filter(key="stod_pilot").order_by("-revision").first()
    task = next(n for n in draft.model["nodes"] if n["id"] == "Activity_0inform")
    assert (task["name"], task["form"]) == ("Informera hemmet", "beslut.schema.json")
    assert draft.based_on == piloted and draft.changelog == "Nytt namn och formulär"
    assert errors == []
