"""The process owners' API: pilots, diffs and migrations; 403 for every other role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from organisation.tests.factories import UserFactory
from processes.models import Pilot
from processes.services.instances import process_instance_start
from processes.tests.factories import published_support_version

pytestmark = pytest.mark.django_db
BASE = "/api/processes/owner"


@pytest.fixture
def maja(db):
    user = UserFactory(username="maja")
    user.user_permissions.add(Permission.objects.get(codename="manage_process"))
    return user


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_everyone_but_owners_is_refused(rut, sara, support_version, ekbacke):
    calls = [
        ("get", f"{BASE}/support_fixture/pilots/", None),
        ("post", f"{BASE}/support_fixture/pilots/", {"version_id": support_version.pk, "unit": ekbacke.code}),
        ("get", f"{BASE}/support_fixture/diff/?from=v{support_version.pk}&to=v{support_version.pk}", None),
        ("get", f"{BASE}/support_fixture/migrations/plan/?from_version_id=1&to_version_id=2", None),
        ("post", f"{BASE}/support_fixture/migrations/", {"from_version_id": 1, "to_version_id": 2}),
        ("post", f"{BASE}/migrations/1/undo/", None),
    ]
    for user in (rut, sara):
        for method, url, body in calls:
            response = getattr(_client(user), method)(url, body, format="json")
            assert response.status_code == 403, (user, url, response.content)
    for method, url, body in calls:
        assert getattr(_client(), method)(url, body, format="json").status_code in (401, 403)
    assert not Pilot.objects.exists()


def test_owner_pilots_diffs_and_migrates(maja, support_version, ekbacke, django_capture_on_commit_callbacks):
    client = _client(maja)
    created = client.post(
        f"{BASE}/support_fixture/pilots/",
        {"version_id": support_version.pk, "unit": ekbacke.code, "starts_on": "2020-01-01"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["version"] == 1
    assert client.get(f"{BASE}/support_fixture/pilots/").json()[0]["unit"] == ekbacke.code

    case = process_instance_start(version=support_version, unit=ekbacke, data={"case_id": "A"})
    v2 = published_support_version(**{"Fatta beslut": "Besluta"})
    diff = client.get(f"{BASE}/support_fixture/diff/?from=v{support_version.pk}&to=v{v2.pk}").json()
    assert diff["changed"] == ["decide"]
    ids = {"from_version_id": support_version.pk, "to_version_id": v2.pk}
    plan = client.get(f"{BASE}/support_fixture/migrations/plan/", ids).json()
    assert [row["id"] for row in plan["movable"]] == [str(case.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        job = client.post(f"{BASE}/support_fixture/migrations/", ids, format="json")
    assert job.status_code == 202
    detail = client.get(f"{BASE}/migrations/jobs/{job.json()['id']}/").json()
    assert detail["status"] == "completed" and detail["migrated"] == 1
    migration = case.migrations.get()
    undone = client.post(f"{BASE}/migrations/{migration.pk}/undo/")
    assert undone.json() == {"case_id": str(case.pk), "version": 1}
    again = client.post(f"{BASE}/migrations/{migration.pk}/undo/")
    assert again.status_code == 409 and again.json()["code"] == "migration_undone"
