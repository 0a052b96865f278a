"""One error shape for everything: problem+json with a stable code and a translated title, whether the
error is ours (ApplicationError) or the framework's (validation, 401, 403, 404, 405, 415, 429)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["type"] == f"urn:skolflode:error:{code}" and body["title"]
    return body


def test_validation_errors_name_each_field(api, rut):
    api.force_authenticate(rut)
    body = _problem(
        api.post(reverse("processes-api:case-start"), {"pupil": "x"}, format="json"), 400, "validation_error"
    )
    assert set(body["errors"]) == {"process", "pupil"}


def test_an_anonymous_call_is_401_with_a_token_challenge(api):
    response = api.get(reverse("tasks-api:inbox"))
    _problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_401_authentication_failed(api):
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    _problem(api.get(reverse("tasks-api:inbox")), 401, "authentication_failed")


def test_a_role_without_the_right_is_403(api, rut, support_version):
    api.force_authenticate(rut)
    url = reverse(
        "processes-api:version-publish", args=[support_version.definition.key, support_version.number]
    )
    _problem(api.post(url), 403, "process_manage_not_allowed")


def test_unknown_objects_and_unknown_urls_are_404(api, rut):
    api.force_authenticate(rut)
    _problem(api.get(reverse("tasks-api:detail", args=[999999])), 404, "task_not_found")
    _problem(api.get("/api/no-such-thing/"), 404, "not_found")


def test_a_wrong_method_is_405(api, rut):
    api.force_authenticate(rut)
    _problem(api.delete(reverse("processes-api:process-list")), 405, "method_not_allowed")


def test_an_unreadable_body_is_400_and_a_wrong_media_type_415(api, rut):
    api.force_authenticate(rut)
    url = reverse("processes-api:case-start")
    _problem(api.post(url, "{not json", content_type="application/json"), 400, "parse_error")
    _problem(api.post(url, "a=b", content_type="text/plain"), 415, "unsupported_media_type")


def test_over_the_rate_is_429_with_retry_after(api, rut):
    rates = {"anon": "2/min", "user": "2/min"}
    from rest_framework import throttling

    original = throttling.SimpleRateThrottle.THROTTLE_RATES
    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        throttling.SimpleRateThrottle.THROTTLE_RATES = rates
        try:
            api.force_authenticate(rut)
            statuses = [api.get(reverse("tasks-api:inbox")).status_code for _ in range(3)]
            body = _problem(api.get(reverse("tasks-api:inbox")), 429, "throttled")
        finally:
            throttling.SimpleRateThrottle.THROTTLE_RATES = original
    assert statuses == [200, 200, 429] and body["retry_after"] > 0


def test_messages_are_translated_by_accept_language(api, rut):
    api.force_authenticate(rut)
    swedish = api.get(reverse("tasks-api:detail", args=[999999]), HTTP_ACCEPT_LANGUAGE="sv").json()
    english = api.get(reverse("tasks-api:detail", args=[999999]), HTTP_ACCEPT_LANGUAGE="en").json()
    assert swedish["code"] == english["code"] == "task_not_found"
    assert english["title"] == "The task does not exist or you may not see it."
    assert swedish["title"] != english["title"]


def _rest_framework() -> dict:
    from django.conf import settings

    return dict(settings.REST_FRAMEWORK)


def test_ids_past_the_databases_integer_range_are_404_not_500(api, rut):
    api.force_authenticate(rut)
    response = api.get("/api/tasks/99999999999999999999999/")
    assert response.status_code == 404 and response.json()["code"] in ("not_found", "task_not_found")
    inbox = api.get(reverse("tasks-api:inbox"), {"unit": "99999999999999999999999"})
    assert inbox.status_code == 400 and inbox.json()["code"] == "validation_error"


def test_an_unhandled_error_is_a_500_problem_without_details(rut, monkeypatch):
    from django.test import Client

    def explode(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("processes.apis._require_reader", explode)
    browser = Client(raise_request_exception=False)
    browser.force_login(rut)
    response = browser.get(reverse("processes-api:process-list"))
    body = _problem(response, 500, "server_error")
    assert "secret" not in response.content.decode() and set(body) == {
        "type",
        "title",
        "status",
        "code",
        "detail",
    }
