"""Every login, by password or OpenID Connect, success or failure, becomes a LoginEvent."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import LoginEvent
from accounts.services.logins import (
    client_ip,
    login_event_record,
    login_failure_register,
    login_failures_reset,
)


def _method_of(backend: str) -> str:
    return LoginEvent.Method.OIDC if "oidc" in backend.lower() else LoginEvent.Method.PASSWORD


@receiver(user_logged_in, dispatch_uid="accounts-login-success")
def login_succeeded(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    login_failures_reset(user.get_username(), client_ip(request))
    login_event_record(
        request=request, success=True, method=_method_of(getattr(user, "backend", "")), user=user
    )


@receiver(user_login_failed, dispatch_uid="accounts-login-failure")
def login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username") or "")
    if username:
        login_failure_register(username, client_ip(request))
        login_event_record(
            request=request,
            success=False,
            method=LoginEvent.Method.PASSWORD,
            username=username,
            reason=LoginEvent.Reason.BAD_CREDENTIALS,
        )
    else:  # an OIDC callback whose identity maps to no account (or whose token was refused)
        login_event_record(
            request=request,
            success=False,
            method=LoginEvent.Method.OIDC,
            reason=LoginEvent.Reason.UNKNOWN_IDENTITY,
        )
