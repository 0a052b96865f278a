"""OpenID Connect login against a local stub provider: the subject is mapped to an existing user by
e-mail and then by the stored subject; unknown people, foreign audiences and a switched-off
configuration get no session, and every attempt is a LoginEvent."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlparse

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import LoginEvent, OidcIdentity
from organisation.tests.factories import UserFactory
from tests.security.oidc_provider import CLIENT_ID, CLIENT_SECRET, StubProvider

pytestmark = pytest.mark.django_db


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _settings_from_discovery(provider: StubProvider) -> dict:
    with urllib.request.urlopen(f"{provider.base}/.well-known/openid-configuration", timeout=5) as answer:  # noqa: S310
        found = json.load(answer)
    return {
        "OIDC_ENABLED": True,
        "OIDC_RP_CLIENT_ID": CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_OP_AUTHORIZATION_ENDPOINT": found["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": found["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": found["userinfo_endpoint"],
        "OIDC_OP_JWKS_ENDPOINT": found["jwks_uri"],
        "OIDC_OP_ISSUER": found["issuer"],
        "AUTHENTICATION_BACKENDS": [
            "django.contrib.auth.backends.ModelBackend",
            "accounts.oidc.SkolflodeOIDCBackend",
        ],
    }


def _log_in_through(provider: StubProvider, client) -> object:
    """The browser's round trip: our redirect to the provider, its redirect back, our callback."""
    start = client.get(reverse("oidc_authentication_init"))
    assert start.status_code == 302 and start["Location"].startswith(provider.base + "/authorize")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(start["Location"], timeout=5)
    except urllib.error.HTTPError as redirect:
        back = urlparse(redirect.headers["Location"])
    return client.get(back.path, dict(p.split("=", 1) for p in back.query.split("&")))


@pytest.fixture
def astrid(db):
    return UserFactory(username="astrid", email="astrid@skarvik.se")


def test_the_first_login_links_the_subject_by_email_and_the_next_by_subject(client, astrid):
    with StubProvider(
        {"sub": "sub-astrid", "email": "Astrid@Skarvik.se", "email_verified": True}
    ) as provider:
        with override_settings(**_settings_from_discovery(provider)):
            first = _log_in_through(provider, client)
            assert first.status_code == 302 and int(client.session["_auth_user_id"]) == astrid.pk
            client.logout()
            provider.claims = {"sub": "sub-astrid", "email": "astrid.new@skarvik.se"}  # e-mail changed
            second = _log_in_through(provider, client)

    assert second.status_code == 302 and int(client.session["_auth_user_id"]) == astrid.pk
    assert OidcIdentity.objects.get(subject="sub-astrid").user == astrid
    assert list(LoginEvent.objects.values_list("method", "success")) == [("oidc", True), ("oidc", True)]


def test_an_unknown_person_gets_no_account_and_the_failure_is_recorded(client, astrid):
    with StubProvider({"sub": "sub-x", "email": "stranger@example.org"}) as provider:
        with override_settings(**_settings_from_discovery(provider)):
            response = _log_in_through(provider, client)

    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session and not OidcIdentity.objects.exists()
    assert list(LoginEvent.objects.values_list("method", "success", "reason")) == [
        ("oidc", False, "unknown_identity")
    ]


def test_a_token_for_another_client_is_refused(client, astrid):
    with StubProvider({"sub": "sub-astrid", "email": "astrid@skarvik.se"}) as provider:
        provider.audience = "another-client"
        with override_settings(**_settings_from_discovery(provider)):
            response = _log_in_through(provider, client)

    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert LoginEvent.objects.get().success is False


def test_without_configuration_oidc_is_switched_off(client, settings):
    assert settings.OIDC_ENABLED is False
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback")).status_code == 404


def test_the_login_page_offers_oidc_only_when_configured(client):
    assert "/oidc/authenticate/" not in client.get(reverse("login")).content.decode()
    with override_settings(OIDC_ENABLED=True):
        page = client.get(reverse("login")).content.decode()
    assert "/oidc/authenticate/" in page and "kommunens inloggningstjänst" in page
