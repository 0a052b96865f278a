"""The task API does what the pages do, with the same rules: a teacher at another unit gets 404 for
every operation, bad form data gets 422 with errors per field, a double submit 409."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from organisation.models import Role
from organisation.tests.factories import MembershipFactory, SchoolUnitFactory, UserFactory
from processes.services.instances import process_instance_start
from tasks.models import UserTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def apply_task(support_version, ekbacke, alva):
    case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    return case.user_tasks.get(element_id="apply")


@pytest.fixture
def decide_task(api, apply_task, sara):
    api.force_authenticate(sara)
    api.post(
        reverse("tasks-api:complete", args=[apply_task.pk]), {"data": {"needs": ["a", "b"]}}, format="json"
    )
    api.force_authenticate(None)
    return UserTask.objects.get(instance=apply_task.instance, element_id="decide")


def test_the_guardian_sees_her_task_with_its_form_and_completes_it(api, sara, apply_task):
    api.force_authenticate(sara)

    inbox = api.get(reverse("tasks-api:inbox")).json()
    detail = api.get(reverse("tasks-api:detail", args=[apply_task.pk])).json()
    done = api.post(
        reverse("tasks-api:complete", args=[apply_task.pk]),
        {"data": {"needs": ["läsning", "matte"]}},
        format="json",
    )

    assert [t["id"] for t in inbox["results"]] == [apply_task.pk] and inbox["count"] == 1
    assert detail["form"]["required"] == ["needs"] and detail["lane"] == "guardian"
    assert done.status_code == 200 and done.json()["status"] == "completed"


def test_invalid_data_gets_422_problem_json_with_field_errors(api, sara, apply_task):
    api.force_authenticate(sara)

    response = api.post(
        reverse("tasks-api:complete", args=[apply_task.pk]), {"data": {"needs": "x"}}, format="json"
    )

    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "form_invalid" and set(body["errors"]) == {"needs"}
    apply_task.refresh_from_db()
    assert apply_task.status == UserTask.Status.OPEN


def test_a_double_submit_gets_409_and_nothing_twice(api, sara, apply_task):
    api.force_authenticate(sara)
    url = reverse("tasks-api:complete", args=[apply_task.pk])

    first = api.post(url, {"data": {"needs": ["a", "b"]}}, format="json")
    second = api.post(url, {"data": {"needs": ["a", "b"]}}, format="json")

    assert (first.status_code, second.status_code) == (200, 409)
    assert second.json()["code"] == "task_not_open"
    assert UserTask.objects.filter(instance=apply_task.instance, element_id="decide").count() == 1


def test_the_principal_claims_and_releases_through_the_api(api, rut, decide_task):
    api.force_authenticate(rut)

    claimed = api.post(reverse("tasks-api:claim", args=[decide_task.pk])).json()
    mine = api.get(reverse("tasks-api:inbox") + "?tab=mine").json()
    released = api.post(reverse("tasks-api:unclaim", args=[decide_task.pk])).json()

    assert claimed["claimed_by"] == "rut" and [t["id"] for t in mine["results"]] == [decide_task.pk]
    assert released["claimed_by"] is None


def test_a_teacher_at_another_unit_gets_404_for_every_operation_and_guessed_ids(api, decide_task):
    stina = MembershipFactory(
        user=UserFactory(username="stina"), unit=SchoolUnitFactory(), role=Role.PRINCIPAL
    ).user
    api.force_authenticate(stina)

    responses = [
        api.get(reverse("tasks-api:detail", args=[decide_task.pk])),
        api.post(reverse("tasks-api:claim", args=[decide_task.pk])),
        api.post(reverse("tasks-api:draft", args=[decide_task.pk]), {"data": {}}, format="json"),
        api.post(
            reverse("tasks-api:complete", args=[decide_task.pk]),
            {"data": {"decision": "approved"}},
            format="json",
        ),
        api.get(reverse("tasks-api:detail", args=[decide_task.pk + 1000])),
    ]

    assert [r.status_code for r in responses] == [404] * 5
    assert api.get(reverse("tasks-api:inbox") + "?tab=team").json()["count"] == 0
    decide_task.refresh_from_db()
    assert decide_task.claimed_by is None and decide_task.status == UserTask.Status.OPEN


def test_anonymous_callers_are_refused(api, apply_task):
    assert api.get(reverse("tasks-api:inbox")).status_code == 401
    assert (
        api.post(reverse("tasks-api:complete", args=[apply_task.pk]), {"data": {}}, format="json").status_code
        == 401
    )


def test_the_openapi_schema_and_swagger_ui_are_served_without_a_cdn(client):
    schema = client.get(reverse("api-schema"))
    docs = client.get(reverse("api-docs")).content.decode()

    assert schema.status_code == 200 and b"/api/tasks/{task_id}/complete/" in schema.content
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs
