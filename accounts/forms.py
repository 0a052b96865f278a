from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts.models import LoginEvent
from accounts.services.logins import client_ip, login_event_record, login_locked


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login form, refusing a username from an address after too many failures, before the
    password is even checked (so guessing goes no further while locked)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "login_locked": _(
            "Too many failed logins for this username. Wait %(minutes)s minutes and try again, or ask "
            "your administrator to reset your password."
        ),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request)
        if username and login_locked(username, ip):
            login_event_record(
                request=self.request,
                success=False,
                method=LoginEvent.Method.PASSWORD,
                username=username,
                reason=LoginEvent.Reason.LOCKED,
            )
            raise forms.ValidationError(
                self.error_messages["login_locked"],
                code="login_locked",
                params={"minutes": settings.LOGIN_LOCKOUT_SECONDS // 60},
            )
        return super().clean()
