"""OpenID Connect login (mozilla-django-oidc), switched on by OIDC_RP_CLIENT_ID in the environment.

Nobody gets an account by logging in: the provider's subject is matched to an existing, active user,
by a stored OidcIdentity or else (the first time) by the verified e-mail address, which links it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import OidcIdentity


class SkolflodeOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        # A refused token becomes PermissionDenied, so Django reports a failed login (and it is recorded)
        # and the callback sends the person back to the login page instead of answering 400.
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:
            raise PermissionDenied(str(exc)) from exc

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The library checks signature and nonce; the audience and issuer are checked here."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token was issued to another client.")
        issuer = getattr(settings, "OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("The ID token comes from another issuer.")
        return payload

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet:
        users = get_user_model().objects.filter(is_active=True)
        subject = str(claims.get("sub") or "")
        if not subject:
            return users.none()
        linked = users.filter(oidc_identities__subject=subject)
        if linked.exists():
            return linked
        email = str(claims.get("email") or "")
        if not email or claims.get("email_verified") is False:
            return users.none()
        by_email = users.filter(email__iexact=email)
        if by_email.count() != 1:
            return users.none()  # ambiguous or unknown: an administrator links the account
        OidcIdentity.objects.get_or_create(subject=subject, defaults={"user": by_email.get()})
        return by_email

    def create_user(self, claims: dict[str, Any]) -> None:
        return None  # never: OIDC_CREATE_USER is False, and this makes sure


def _enabled() -> None:
    if not settings.OIDC_ENABLED:
        raise Http404("OpenID Connect is not configured")


def oidc_authenticate(request: HttpRequest) -> HttpResponse:
    _enabled()
    return OIDCAuthenticationRequestView.as_view()(request)


def oidc_callback(request: HttpRequest) -> HttpResponse:
    _enabled()
    return OIDCAuthenticationCallbackView.as_view()(request)
