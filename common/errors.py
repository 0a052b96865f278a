"""One application error type with stable machine-readable codes, mapped to HTTP in one place.

Every API error, whatever raised it, leaves as problem+json (RFC 9457):
``{type, title, status, code, detail, ...}`` with a stable ``code`` and a translated ``title``/``detail``.
DRF's own exceptions (validation, 401, 403, 404, 405, 415, 429) get codes of their own, and Django's 404
and 500 pages answer in the same shape under /api/.

A lost or refused database connection (a restart, a failover) is not a bug in the request: it answers
503 `database_unavailable` with Retry-After, as problem+json under /api/ and as a page elsewhere, so
clients retry instead of reporting a server error. A deadlock or serialization failure (the database is
there; the transaction lost a race and was rolled back) answers 503 `transaction_conflict` the same way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.encoding import force_str
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_JSON = "application/problem+json"

# Django raises these when the connection is refused, or dies under a statement (the server restarted,
# a failover, the connection limit): transient, and nothing of the request was committed after it.
DATABASE_CONNECTION_ERRORS = (OperationalError, InterfaceError)
# A restart or failover of the database takes seconds; clients wait this long before they retry.
DATABASE_RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


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

    def __str__(self) -> str:
        # Logs and test reports show the stable code and the details (e.g. a deploy's problems).
        details = f" {self.extra}" if self.extra else ""
        return f"[{self.code}] {self.message}{details}"[:2000]


class NotFound(ApplicationError):
    status = 404


class PermissionDenied(ApplicationError):
    status = 403


class Conflict(ApplicationError):
    status = 409


def _framework_problem(exc: Exception) -> tuple[str, str]:
    """A stable code and a translated title for DRF's and Django's own exceptions."""
    if isinstance(exc, Http404 | drf.NotFound):
        return "not_found", _("The resource does not exist or you may not see it.")
    if isinstance(exc, DjangoPermissionDenied | drf.PermissionDenied):
        return "permission_denied", _("You may not do this.")
    if isinstance(exc, drf.NotAuthenticated):
        return "not_authenticated", _("Log in, or send a valid API token.")
    if isinstance(exc, drf.AuthenticationFailed):
        return "authentication_failed", _("The credentials were not accepted.")
    if isinstance(exc, drf.MethodNotAllowed):
        return "method_not_allowed", _("This method is not allowed here.")
    if isinstance(exc, drf.NotAcceptable):
        return "not_acceptable", _("The requested response format is not available.")
    if isinstance(exc, drf.UnsupportedMediaType):
        return "unsupported_media_type", _("The request body has a format this endpoint does not accept.")
    if isinstance(exc, drf.Throttled):
        return "throttled", _("Too many requests. Wait a moment and try again.")
    if isinstance(exc, drf.ParseError):
        return "parse_error", _("The request body could not be read.")
    if isinstance(exc, drf.ValidationError):
        return "validation_error", _("The request has invalid fields.")
    return str(getattr(exc, "default_code", "error")), _("The request failed.")


def problem_body(code: str, title: str, status: int, detail: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:skolflode:error:{code}",
        "title": force_str(title),
        "status": status,
        "code": code,
        "detail": force_str(title) if detail is None else detail,
        **extra,
    }


def is_transaction_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure (SQLSTATE class 40): the database is there, this transaction
    lost a race and was rolled back. Django reports it as OperationalError, like a lost connection."""
    return str(getattr(exc.__cause__, "sqlstate", "") or "").startswith("40")


def _database_unavailable_body(exc: BaseException | None) -> dict[str, Any]:
    if exc is not None and is_transaction_conflict(exc):
        title = _("Another change to the same case got in the way. Try again.")
        return problem_body("transaction_conflict", title, 503, retry_after=DATABASE_RETRY_AFTER_SECONDS)
    title = _("The database is not available right now. Try again in a moment.")
    return problem_body("database_unavailable", title, 503, retry_after=DATABASE_RETRY_AFTER_SECONDS)


def _database_unavailable_logged(request: HttpRequest, exc: BaseException) -> None:
    # A warning, not an error with a traceback: the operator needs to know the database was away (or
    # that transactions deadlock), not where each request happened to notice it.
    what = "Transaction conflict" if is_transaction_conflict(exc) else "Database unavailable"
    logger.warning("%s during %s %s: %s", what, request.method, request.path, exc)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """problem+json: {type, title, status, code, detail, ...}; validation errors add `errors` by field."""
    if isinstance(exc, ApplicationError):
        body = problem_body(exc.code, exc.message, exc.status, **exc.extra)
        return Response(body, status=exc.status, content_type=PROBLEM_JSON)
    if isinstance(exc, DATABASE_CONNECTION_ERRORS):
        _database_unavailable_logged(context["request"], exc)
        return Response(
            _database_unavailable_body(exc),
            status=503,
            content_type=PROBLEM_JSON,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, OverflowError):
        # An id past the database's integer range (SQLite raises instead of finding nothing): no such row.
        exc = Http404()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code, title = _framework_problem(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, drf.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"__all__": exc.detail}
        extra["errors"] = errors
        detail = title
    else:
        detail = force_str(getattr(exc, "detail", title))
    if isinstance(exc, drf.Throttled) and exc.wait is not None:
        extra["retry_after"] = int(exc.wait)
    response.data = problem_body(code, title, response.status_code, detail, **extra)
    response.content_type = PROBLEM_JSON
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 (no URL matched): problem+json under /api/, the ordinary page elsewhere."""
    if _is_api(request):
        code, title = _framework_problem(Http404())
        return JsonResponse(problem_body(code, title, 404), status=404, content_type=PROBLEM_JSON)
    return defaults.page_not_found(request, exception)


def database_unavailable(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    """503 with Retry-After: problem+json under /api/, a page (Swedish first) elsewhere. The page is
    rendered without the request's context processors, which would query the missing database."""
    if _is_api(request):
        response: HttpResponse = JsonResponse(
            _database_unavailable_body(exc), status=503, content_type=PROBLEM_JSON
        )
    else:
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """An unhandled exception: problem+json under /api/ without any detail, the ordinary page elsewhere.
    A lost database connection is the exception: 503, see database_unavailable."""
    # Django calls this handler while it handles the exception, so the exception is at hand here.
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_CONNECTION_ERRORS):
        return database_unavailable(request, exc)  # Django logs the 503 with its traceback
    if _is_api(request):
        body = problem_body("server_error", _("Something went wrong on our side. Try again later."), 500)
        return JsonResponse(body, status=500, content_type=PROBLEM_JSON)
    return defaults.server_error(request)
