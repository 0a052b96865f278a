"""Response headers that Django's SecurityMiddleware does not set: a Content Security Policy without
any inline script or style, and a Permissions-Policy that turns off what the product never uses."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith("/api/") and request.path not in settings.API_CACHEABLE_PATHS:
            # Answers carry personal data: no shared cache may keep them.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
