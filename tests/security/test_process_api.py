"""The process API through its front door: deploy (JSON and .zip) through the hardened parser, publish,
start a case, read its state and history; hostile XML and oversized bundles are refused with
problem+json, and ids of other units' cases answer exactly as ids that do not exist."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from processes.models import ProcessVersion
from processes.tests.factories import support_bundle_files

pytestmark = pytest.mark.django_db
HOSTILE = Path(__file__).resolve().parents[2] / "processes" / "tests" / "engine" / "fixtures" / "hostile"


@pytest.fixture
def owner(personas):
    return personas["process_owner"]


def _json_bundle(key: str = "api_fixture", **replacements: str) -> dict:
    bundle = support_bundle_files(key, **replacements)
    return {"manifest": bundle.manifest, "files": bundle.files, "forms": bundle.forms, "changelog": "API"}


def _zip(entries: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    buffer.seek(0)
    buffer.name = "bundle.zip"
    return buffer


def test_a_process_owner_deploys_json_then_publishes_and_the_same_content_is_not_deployed_twice(api, owner):
    api.force_authenticate(owner)
    url = reverse("processes-api:version-deploy", args=["api_fixture"])

    first = api.post(url, _json_bundle(), format="json")
    again = api.post(url, _json_bundle(), format="json")
    published = api.post(reverse("processes-api:version-publish", args=["api_fixture", 1]))
    twice = api.post(reverse("processes-api:version-publish", args=["api_fixture", 1]))

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["status"] == "draft" and first.json()["content_hash"] == again.json()["content_hash"]
    assert published.json()["status"] == "published"
    assert twice.status_code == 409 and twice.json()["code"] == "version_transition_refused"


def test_a_zip_bundle_deploys(api, owner):
    api.force_authenticate(owner)
    bundle = support_bundle_files("zipped")
    entries = {"process.json": json.dumps(bundle.manifest), **bundle.files}
    entries.update({f"forms/{name}": json.dumps(form) for name, form in bundle.forms.items()})

    response = api.post(
        reverse("processes-api:version-deploy", args=["zipped"]),
        {"bundle": _zip(entries)},
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    assert ProcessVersion.objects.get(definition__key="zipped").files.keys() == bundle.files.keys()


@pytest.mark.parametrize("hostile", ["xxe.bpmn", "billion_laughs.bpmn"])
def test_hostile_xml_is_refused_through_the_api(api, owner, hostile):
    api.force_authenticate(owner)
    payload = _json_bundle()
    payload["files"]["support.bpmn"] = (HOSTILE / hostile).read_text(encoding="utf-8")

    response = api.post(reverse("processes-api:version-deploy", args=["api_fixture"]), payload, format="json")

    assert response.status_code == 422 and response.json()["code"] == "bundle_invalid"
    assert (
        response.json()["problems"]
        and not ProcessVersion.objects.filter(definition__key="api_fixture").exists()
    )


def test_bundles_over_2_mb_are_refused_as_json_and_as_zip_bombs(api, owner):
    api.force_authenticate(owner)
    payload = _json_bundle()
    payload["files"]["support.bpmn"] += "<!--" + "x" * 2_000_000 + "-->"
    url = reverse("processes-api:version-deploy", args=["api_fixture"])

    as_json = api.post(url, payload, format="json")
    bomb = api.post(url, {"bundle": _zip({"model.bpmn": "a" * 10_000_000})}, format="multipart")

    assert as_json.status_code in (400, 413) and bomb.status_code == 413
    assert bomb.json()["code"] == "bundle_too_large"


def test_a_bundle_for_another_key_or_without_a_process_id_is_refused(api, owner):
    api.force_authenticate(owner)
    mismatch = api.post(
        reverse("processes-api:version-deploy", args=["other"]), _json_bundle(), format="json"
    )
    broken = _json_bundle()
    del broken["manifest"]["process_id"]
    missing = api.post(reverse("processes-api:version-deploy", args=["api_fixture"]), broken, format="json")
    not_zip = api.post(
        reverse("processes-api:version-deploy", args=["api_fixture"]),
        {"bundle": io.BytesIO(b"not a zip")},
        format="multipart",
    )
    assert mismatch.json()["code"] == "bundle_key_mismatch"
    assert missing.status_code == 400 and "manifest" in missing.json()["errors"]
    assert not_zip.status_code == 422 and not_zip.json()["code"] == "bundle_invalid"


def test_staff_start_a_case_and_read_its_state_and_history(api, rut, alva, support_version):
    api.force_authenticate(rut)

    started = api.post(
        reverse("processes-api:case-start"),
        {"process": support_version.definition.key, "pupil": alva.pk},
        format="json",
    )
    case_id = started.json()["id"]
    state = api.get(reverse("processes-api:case-state", args=[case_id])).json()
    history = api.get(reverse("processes-api:case-history", args=[case_id])).json()

    assert started.status_code == 201 and state["status"] == "running"
    assert [t["element_id"] for t in state["open_tasks"]] == ["apply"] and state["pupil"] == alva.full_name
    assert "instance.started" in [e["verb"] for e in history]


def test_a_case_shows_its_waiting_timers(api, rut, cases):
    api.force_authenticate(rut)
    state = api.get(reverse("processes-api:case-state", args=[cases["waiting_principal"].pk])).json()
    assert [t["element_id"] for t in state["open_tasks"]] == ["decide"]
    assert state["waiting_timers"] and all(t["due_at"] for t in state["waiting_timers"])


def test_guessed_and_other_units_case_ids_answer_like_missing_ones(api, olle, cases):
    api.force_authenticate(olle)
    hidden = api.get(reverse("processes-api:case-state", args=[cases["waiting_guardian"].pk]))
    missing = api.get(reverse("processes-api:case-state", args=[uuid.uuid4()]))
    history = api.get(reverse("processes-api:case-history", args=[cases["waiting_guardian"].pk]))
    assert hidden.status_code == missing.status_code == history.status_code == 404
    assert hidden.json() == missing.json()


def test_an_outsider_cannot_start_a_case_for_a_pupil_elsewhere(api, olle, alva, support_version):
    api.force_authenticate(olle)
    response = api.post(
        reverse("processes-api:case-start"),
        {"process": support_version.definition.key, "pupil": alva.pk},
        format="json",
    )
    assert response.status_code == 404 and response.json()["code"] == "pupil_not_found"


def test_a_guardian_sees_her_childs_case_but_not_another_childs(api, sara, cases, bo_case):
    api.force_authenticate(sara)
    own = api.get(reverse("processes-api:case-state", args=[cases["waiting_guardian"].pk]))
    other = api.get(reverse("processes-api:case-state", args=[bo_case.pk]))
    other_task = api.get(reverse("tasks-api:detail", args=[bo_case.user_tasks.get().pk]))
    history = api.get(reverse("processes-api:case-history", args=[cases["waiting_guardian"].pk]))
    assert (
        own.status_code == 200
        and (other.status_code, other_task.status_code, history.status_code) == (404,) * 3
    )


def test_dashboard_figures_for_the_principal_and_not_for_a_teacher(api, rut, personas, cases):
    key = cases["waiting_guardian"].version.definition.key
    api.force_authenticate(rut)
    figures = api.get(reverse("dashboards-api:report", args=[key]))
    api.force_authenticate(personas["teacher"])
    refused = api.get(reverse("dashboards-api:report", args=[key]))

    assert figures.status_code == 200 and figures.json()["overview"]["started"] == 2
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
