from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from common.health import health_report
from organisation.selectors import memberships_for_user, pupils_visible_to
from tasks.selectors import InboxFilters, user_task_inbox_counts, user_task_inbox_queryset


@require_GET
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = memberships_for_user(request.user)
    context = {"memberships": memberships, "counts": user_task_inbox_counts(request.user)}
    if not memberships.exists():
        # A guardian (or an older pupil): their children and what is waiting for them, nothing more.
        context["children"] = pupils_visible_to(request.user).select_related("unit")
        context["waiting"] = user_task_inbox_queryset(request.user, InboxFilters(tab="mine"))[:20]
    return render(request, "home.html", context)
