"""One application error type with stable machine-readable codes, mapped to HTTP in one place."""

from __future__ import annotations

from typing import Any

from django.utils.encoding import force_str
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A failure the caller can act on. `code` is stable; `message` is translated for people."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


class NotFound(ApplicationError):
    status = 404


class PermissionDenied(ApplicationError):
    status = 403


class Conflict(ApplicationError):
    status = 409


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """problem+json style: {type, title, status, code, detail, ...}."""
    if isinstance(exc, ApplicationError):
        body = {
            "type": f"urn:skolflode:error:{exc.code}",
            "title": force_str(exc.message),
            "status": exc.status,
            "code": exc.code,
            "detail": force_str(exc.message),
            **exc.extra,
        }
        return Response(body, status=exc.status, content_type="application/problem+json")
    response = exception_handler(exc, context)
    if response is not None:
        detail = response.data
        code = getattr(exc, "default_code", "error")
        response.data = {
            "type": f"urn:skolflode:error:{code}",
            "title": force_str(getattr(exc, "default_detail", "Error")),
            "status": response.status_code,
            "code": code,
            "detail": detail,
        }
    return response
