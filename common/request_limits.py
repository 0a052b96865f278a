"""Refuse request bodies over REQUEST_MAX_BYTES before anything reads them.

DATA_UPLOAD_MAX_MEMORY_SIZE does not count uploaded files (Django streams those to a temporary file),
so without this a multipart upload of any size would be written to disk before the 2 MB bundle limit
is checked."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from common.errors import PROBLEM_JSON, problem_body


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_MAX_BYTES:
            title = _("The request is too large.")
            if request.path.startswith("/api/"):
                return JsonResponse(
                    problem_body("request_too_large", title, 413), status=413, content_type=PROBLEM_JSON
                )
            return HttpResponse(title, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
