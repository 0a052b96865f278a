"""Staff start cases here: one case for one pupil, or a bulk start with a progress page. Thin views:
parse input, call one service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import ApplicationError, NotFound
from processes.models import BulkStart
from processes.selectors import (
    bulk_start_get_for_user,
    bulk_start_progress,
    bulk_start_scopes_for_user,
    case_first_task_for_user,
    case_start_pupils_for_user,
    process_version_baseline,
    startable_processes_for_user,
)
from processes.services.bulk_starts import bulk_start_request, bulk_start_resume, case_start_for_pupil
from processes.services.pilots import process_version_for_unit
from processes.services.versions import process_version_current

BULK_START_DEFAULT_PROCESS = "school_start"
REFRESH_SECONDS = 2


@login_required
@require_http_methods(["GET", "POST"])
def case_start(request: HttpRequest) -> HttpResponse:
    versions = startable_processes_for_user(request.user)
    if not versions.exists():
        raise Forbidden(_("You hold no staff role at a school unit."))
    pupils = case_start_pupils_for_user(request.user)
    chosen = {"process": request.POST.get("process", ""), "pupil": request.POST.get("pupil", "")}
    status = 200
    if request.method == "POST":
        pupil = pupils.filter(pk=chosen["pupil"]).first() if chosen["pupil"].isdigit() else None
        try:
            if pupil is None:
                raise ApplicationError("pupil_required", _("Choose a pupil at one of your school units."))
            case = case_start_for_pupil(user=request.user, key=chosen["process"], pupil=pupil)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = 422 if exc.status in (400, 404) else exc.status
        else:
            task = case_first_task_for_user(case, request.user)
            if task is not None:
                return redirect("tasks:detail", pk=task.pk)
            messages.success(
                request,
                _("The case “%(process)s” for %(pupil)s has started.")
                % {"process": case.version.definition.name_sv, "pupil": pupil.full_name},
            )
            return redirect("processes:case_start")
    return render(
        request,
        "processes/case_start.html",
        {"versions": versions, "pupils": pupils, "chosen": chosen},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def bulk_start_new(request: HttpRequest) -> HttpResponse:
    whole_municipality, units = bulk_start_scopes_for_user(request.user)
    if not whole_municipality and not units.exists():
        raise Forbidden(_("You may not start cases for every pupil."))
    chosen = {
        "process": request.POST.get("process", BULK_START_DEFAULT_PROCESS),
        "scope": request.POST.get("scope", ""),
    }
    status = 200
    if request.method == "POST":
        try:
            if chosen["scope"] == "all":
                unit = None
                # Units piloting another version keep the baseline in a municipality-wide start.
                version = process_version_baseline(chosen["process"]) or process_version_current(
                    chosen["process"]
                )
            else:
                unit = units.filter(pk=chosen["scope"]).first() if chosen["scope"].isdigit() else None
                if unit is None:
                    raise ApplicationError(
                        "scope_required", _("Choose a school unit or the whole municipality.")
                    )
                version = process_version_for_unit(chosen["process"], unit)
            bulk = bulk_start_request(version=version, unit=unit, requested_by=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = 422 if exc.status in (400, 404) else exc.status
        else:
            return redirect("processes:bulk_start_detail", pk=bulk.pk)
    return render(
        request,
        "processes/bulk_start_new.html",
        {
            "versions": startable_processes_for_user(request.user),
            "whole_municipality": whole_municipality,
            "units": units,
            "chosen": chosen,
        },
        status=status,
    )


def _bulk_start_or_404(request: HttpRequest, pk: int) -> BulkStart:
    try:
        return bulk_start_get_for_user(request.user, pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
@never_cache
def bulk_start_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bulk = _bulk_start_or_404(request, pk)
    progress = bulk_start_progress(bulk.pk)
    refreshing = not progress["finished"] and request.GET.get("refresh") != "off"
    response = render(
        request,
        "processes/bulk_start_detail.html",
        {"bulk": bulk, "progress": progress, "refreshing": refreshing, "refresh_seconds": REFRESH_SECONDS},
    )
    if refreshing:
        # The same as <meta http-equiv="refresh">, without touching base.html's <head>: no script,
        # nothing for the content security policy to allow.
        response["Refresh"] = str(REFRESH_SECONDS)
    return response


@login_required
@require_GET
@never_cache
def bulk_start_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    bulk = _bulk_start_or_404(request, pk)
    return JsonResponse(bulk_start_progress(bulk.pk))


@login_required
@require_POST
def bulk_start_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    bulk = _bulk_start_or_404(request, pk)
    try:
        bulk_start_resume(bulk.pk, request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The bulk start goes on where it stopped."))
    return redirect("processes:bulk_start_detail", pk=bulk.pk)
