"""A case's history for a person (printable), and event-log exports for the governing body. Thin
views: parse input, call one selector or service, render."""

from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.exports import CONTENT_TYPES, FORMATS
from audit.selectors import case_get_for_history, case_timeline, user_is_export_entitled
from audit.services import case_read_record, event_log_export
from common.errors import ApplicationError, NotFound
from processes.models import ProcessDefinition


@login_required
def case_timeline_page(request: HttpRequest, instance_id) -> HttpResponse:
    try:
        instance = case_get_for_history(request.user, instance_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    timeline = case_timeline(request.user, instance)
    case_read_record(request.user, instance, unmasked=timeline.entitled)
    return render(request, "audit/case_timeline.html", {"timeline": timeline, "printed_at": timezone.now()})


@login_required
def event_log_export_page(request: HttpRequest) -> HttpResponse:
    if not user_is_export_entitled(request.user):
        raise Http404(_("The page does not exist or you may not see it."))
    fmt, process = request.GET.get("format", ""), request.GET.get("process", "")
    error = ""
    if fmt and process:
        binary = fmt == "xes"
        out = io.BytesIO() if binary else io.StringIO()
        try:
            event_log_export(
                fmt=fmt,
                process_key=process,
                out=out,
                actor=request.user,
                identified=request.GET.get("identified") == "1",
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            response = HttpResponse(out.getvalue(), content_type=CONTENT_TYPES[fmt])
            extension = {"ocel": "jsonocel"}.get(fmt, fmt)
            response["Content-Disposition"] = f'attachment; filename="{process}-events.{extension}"'
            return response
    return render(
        request,
        "audit/export.html",
        {
            "processes": ProcessDefinition.objects.order_by("name_sv"),
            "formats": FORMATS,
            "error": error,
            "may_identify": request.user.is_superuser,
        },
        status=400 if error else 200,
    )
