"""Headers, CSRF on the UI's forms, upload limits and templates that the content security policy
does not break."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


def test_every_page_carries_a_strict_content_security_policy(client, rut):
    client.force_login(rut)
    for url in (reverse("home"), reverse("login"), reverse("api-docs"), reverse("tasks-api:inbox")):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin" and "camera=()" in headers["Permissions-Policy"]


def test_api_answers_are_never_stored_by_caches(api, rut):
    api.force_authenticate(rut)
    assert api.get(reverse("tasks-api:inbox"))["Cache-Control"] == "no-store"


def test_swagger_ui_runs_without_inline_script_or_style(client):
    page = client.get(reverse("api-docs")).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) and "<style" not in page
    assert client.get(reverse("api-docs") + "?script").status_code == 200


def test_no_template_has_inline_script_style_or_event_handlers():
    offenders = []
    for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]:
        text = path.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_ui_form_post_without_the_csrf_token_is_refused(rut, apply_task_for_csrf):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rut)
    for url in (reverse("logout"), reverse("processes:case_start"), reverse("login")):
        assert browser.post(url, {"process": "x"}).status_code == 403


def test_session_authenticated_api_writes_need_the_csrf_token_too(rut, apply_task_for_csrf):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rut)
    response = browser.post(
        reverse("tasks-api:claim", args=[apply_task_for_csrf.pk]), content_type="application/json"
    )
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert "CSRF" in response.json()["detail"]


def test_request_bodies_are_capped_near_the_bundle_limit(api, rut):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 4 * 1024 * 1024
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= 4 * 1024 * 1024
    api.force_authenticate(rut)
    huge = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = api.post(reverse("tasks-api:draft", args=[1]), huge, content_type="application/json")
    assert response.status_code in (400, 413) and response["Content-Type"].startswith(
        "application/problem+json"
    )


def test_debug_is_off_unless_asked_and_secrets_have_no_production_default():
    assert settings.DEBUG is False
    production = (ROOT / "config" / "settings" / "production.py").read_text(encoding="utf-8")
    assert 'SECRET_KEY = env_str("DJANGO_SECRET_KEY")' in production


@pytest.fixture
def apply_task_for_csrf(support_version, ekbacke, alva):
    from processes.services.instances import process_instance_start

    return process_instance_start(version=support_version, unit=ekbacke, pupil=alva).user_tasks.get()


def _ui_urls() -> list[str]:
    """Every page URL outside /api/, from the resolver, with sample values for its parameters."""
    from django.urls import URLPattern, URLResolver, get_resolver

    samples = {"IntConverter": "1", "SlugConverter": "x", "StringConverter": "x", "PathConverter": "x"}
    urls: list[str] = []

    def walk(patterns, prefix, converters):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            merged = {**converters, **getattr(entry.pattern, "converters", {})}
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route, merged)
            elif isinstance(entry, URLPattern) and not route.startswith("api/") and "(?P" not in route:
                for name, converter in merged.items():
                    value = samples.get(type(converter).__name__, "00000000-0000-0000-0000-000000000000")
                    route = re.sub(r"<(?:\w+:)?" + name + ">", value, route)
                urls.append("/" + route.lstrip("^").rstrip("$"))

    walk(get_resolver().url_patterns, "", {})
    return sorted(set(urls))


def test_every_page_refuses_a_post_without_the_csrf_token(rut):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rut)
    urls = _ui_urls()
    accepted = [url for url in urls if browser.post(url, {"x": "1"}).status_code != 403]
    assert len(urls) > 10 and accepted == []


def test_a_body_over_the_request_limit_is_refused_before_it_is_read_even_as_a_file(api, rut, settings):
    settings.REQUEST_MAX_BYTES = 1000
    api.force_authenticate(rut)
    upload = io.BytesIO(b"x" * 5000)
    upload.name = "bundle.zip"
    response = api.post(
        reverse("processes-api:version-deploy", args=["x"]), {"bundle": upload}, format="multipart"
    )
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"
