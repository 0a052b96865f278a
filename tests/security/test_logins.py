"""Password logins are recorded and throttled; API tokens are issued by a management command."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.models import LoginEvent
from organisation.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_a_successful_and_a_failed_login_are_both_recorded(client, rut):
    _login(client, "rut", "wrong")
    _login(client, "rut", "secret-pass-123")

    events = list(LoginEvent.objects.order_by("at", "pk").values_list("username", "success", "reason", "ip"))
    assert events == [("rut", False, "bad_credentials", "10.0.0.1"), ("rut", True, "", "10.0.0.1")]
    assert LoginEvent.objects.get(success=True).user == rut
    assert LoginEvent.objects.get(success=True).method == "password"


def test_five_failures_lock_the_username_from_that_address_even_with_the_right_password(client, rut):
    for _ in range(5):
        _login(client, "rut", "wrong")

    locked = _login(client, "rut", "secret-pass-123")
    other_address = _login(Client(), "rut", "secret-pass-123", ip="10.0.0.2")

    assert locked.status_code == 200 and "_auth_user_id" not in client.session
    assert "15" in locked.content.decode() and LoginEvent.objects.filter(reason="locked").count() == 1
    assert other_address.status_code == 302


def test_the_lock_lifts_after_the_window(client, rut, settings):
    from django.core.cache import cache

    for _ in range(5):
        _login(client, "rut", "wrong")
    cache.clear()  # what the 15-minute expiry does
    assert _login(client, "rut", "secret-pass-123").status_code == 302


def test_a_success_resets_the_count(client, rut):
    for _ in range(4):
        _login(client, "rut", "wrong")
    assert _login(client, "rut", "secret-pass-123").status_code == 302
    client.logout()
    for _ in range(4):
        _login(client, "rut", "wrong")
    assert _login(client, "rut", "secret-pass-123").status_code == 302


def test_the_lock_message_is_swedish_by_default(client, rut):
    for _ in range(5):
        _login(client, "rut", "wrong")
    assert "För många misslyckade inloggningar" in _login(client, "rut", "secret-pass-123").content.decode()


def test_the_command_issues_a_token_that_authenticates_the_api(api, rut):
    out = io.StringIO()
    call_command("api_token_issue", "rut", stdout=out)
    key = out.getvalue().strip()

    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(reverse("tasks-api:inbox")).status_code == 200
    assert Token.objects.get(user=rut).key == key


def test_rotating_a_token_revokes_the_old_one(api, rut):
    old, new = io.StringIO(), io.StringIO()
    call_command("api_token_issue", "rut", stdout=old)
    call_command("api_token_issue", "rut", "--rotate", stdout=new)

    api.credentials(HTTP_AUTHORIZATION=f"Token {old.getvalue().strip()}")
    assert api.get(reverse("tasks-api:inbox")).status_code == 401
    assert old.getvalue() != new.getvalue()


def test_no_token_for_an_unknown_or_inactive_user():
    UserFactory(username="gone", is_active=False)
    with pytest.raises(CommandError):
        call_command("api_token_issue", "gone")
    with pytest.raises(CommandError):
        call_command("api_token_issue", "nobody")
