"""Process owners' pages: only owners get in; the catalogue, modeller, diff, pilots and migrations work."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from organisation.tests.factories import UserFactory
from processes.models import Pilot, ProcessDraft, ProcessInstance
from processes.services.instances import process_instance_start
from processes.tests.factories import published_support_version, support_bundle_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def maja(db):
    user = UserFactory(username="maja")
    user.user_permissions.add(Permission.objects.get(codename="manage_process"))
    return user


def owner_urls(version, draft, case) -> list[tuple[str, str]]:
    key = version.definition.key
    return [
        ("get", reverse("processes:owner_catalogue")),
        ("get", reverse("processes:owner_definition", args=[key])),
        ("get", reverse("processes:owner_modeler", args=[key])),
        ("post", reverse("processes:owner_modeler", args=[key])),
        ("get", reverse("processes:owner_diff", args=[key]) + f"?from=v{version.pk}&to=d{draft.pk}"),
        ("get", reverse("processes:owner_diagram", args=["version", version.pk])),
        ("get", reverse("processes:owner_download", args=["draft", draft.pk])),
        ("get", reverse("processes:owner_case_diagram", args=[case.pk])),
        ("post", reverse("processes:owner_draft_publish", args=[draft.pk])),
        ("post", reverse("processes:owner_pilot_new", args=[key])),
        ("get", reverse("processes:owner_migrate", args=[key])),
        ("post", reverse("processes:owner_upload")),
    ]


def test_other_roles_get_403_and_anonymous_the_login_page(client, rut, sara, support_version, ekbacke, maja):
    from processes.services.drafts import process_draft_save

    draft = process_draft_save(key="support_fixture", bpmn="<broken", author=maja)
    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A"})
    for user in (rut, sara):
        client.force_login(user)
        for method, url in owner_urls(support_version, draft, case):
            assert getattr(client, method)(url).status_code == 403, (user, url)
        assert "Processer" not in client.get(reverse("tasks:inbox")).content.decode()
    client.logout()
    response = client.get(reverse("processes:owner_catalogue"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Pilot.objects.exists() and ProcessDraft.objects.count() == 1


def test_owner_sees_the_catalogue_with_versions_pilots_and_counts(client, maja, support_version, ekbacke):
    process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A"})
    client.force_login(maja)
    page = client.get(reverse("processes:owner_catalogue")).content.decode()
    assert "Stödtest" in page and "v1" in page
    response = client.post(
        reverse("processes:owner_pilot_new", args=["support_fixture"]),
        {"version": support_version.pk, "unit": ekbacke.pk, "starts_on": "2020-01-01"},
    )
    assert response.status_code == 302
    page = client.get(reverse("processes:owner_catalogue")).content.decode()
    assert "Ekbackeskolan: v1" in page
    assert 'href="/processes/owner/"' in client.get(reverse("tasks:inbox")).content.decode()


def test_modeller_saves_a_draft_with_problems_then_a_clean_one_and_publishes(client, maja, support_version):
    client.force_login(maja)
    url = reverse("processes:owner_modeler", args=["support_fixture"])
    page = client.get(url)
    assert page.status_code == 200 and b"bpmn-modeler.production.min.js" in page.content
    assert b"<script>" not in page.content  # no inline script (CSP)
    files = support_bundle_files()
    broken = files.files["support.bpmn"].replace('default="f_no_need"', "")
    response = client.post(url, {"bpmn": broken, "forms": json.dumps(files.forms), "changelog": "Prov"})
    draft = ProcessDraft.objects.get()
    assert response.status_code == 302 and draft.problems
    page = client.get(response["Location"]).content.decode()
    assert 'data-element-id="gw_need"' in page
    refused = client.post(reverse("processes:owner_draft_publish", args=[draft.pk]))
    assert refused.status_code == 302 and "draft=" in refused["Location"]
    fixed = files.files["support.bpmn"].replace("Fatta beslut", "Besluta")
    client.post(url, {"bpmn": fixed, "forms": json.dumps(files.forms), "changelog": "Nytt namn"})
    clean = ProcessDraft.objects.order_by("-revision").first()
    assert clean.revision == 2 and clean.problems == []
    published = client.post(reverse("processes:owner_draft_publish", args=[clean.pk]))
    assert published.status_code == 302
    assert support_version.definition.versions.filter(number=2, status="published").exists()
    diff = client.get(
        reverse("processes:owner_diff", args=["support_fixture"])
        + f"?from=v{support_version.pk}&to=d{clean.pk}"
    )
    assert diff.status_code == 200 and "decide" in diff.content.decode()
    download = client.get(reverse("processes:owner_download", args=["draft", clean.pk]))
    assert download["Content-Disposition"] == 'attachment; filename="support_fixture-draft2.bpmn"'
    svg = client.get(reverse("processes:owner_diagram", args=["draft", clean.pk]))
    assert svg["Content-Type"].startswith("image/svg+xml") and b"Besluta" in svg.content


def test_invalid_forms_json_is_refused_with_a_message(client, maja, support_version):
    client.force_login(maja)
    url = reverse("processes:owner_modeler", args=["support_fixture"])
    response = client.post(url, {"bpmn": "<x/>", "forms": "{not json"})
    assert response.status_code == 422 and not ProcessDraft.objects.exists()


def test_upload_has_a_size_limit(client, maja):
    client.force_login(maja)
    big = SimpleUploadedFile("big.bpmn", b"<a>" + b" " * 1_100_000 + b"</a>")
    response = client.post(reverse("processes:owner_upload"), {"key": "big", "file": big}, follow=True)
    assert "1 MB" in response.content.decode() and not ProcessDraft.objects.exists()


def test_dry_run_and_bulk_migration_from_the_page(
    client, maja, support_version, ekbacke, django_capture_on_commit_callbacks
):
    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A"})
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    client.force_login(maja)
    url = reverse("processes:owner_migrate", args=["support_fixture"])
    dry = client.get(url, {"from": support_version.pk, "to": v2.pk}).content.decode()
    assert "1 ärende kan flyttas" in dry or "1 case can move" in dry
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"from": support_version.pk, "to": v2.pk})
    assert response.status_code == 302
    assert ProcessInstance.objects.get(pk=case.pk).version == v2
    job_page = client.get(response["Location"], {"format": "json"}).json()
    assert job_page == {"status": "completed", "total": 1, "migrated": 1, "skipped": 0}
    assert client.get(reverse("processes:owner_case", args=[case.pk])).status_code == 200
