"""Staff and guardians work here: the inbox, a task page, and who-works-on-it actions. Thin views:
parse input, call one service or selector, render."""

from __future__ import annotations

from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.services import case_read_record
from common.errors import ApplicationError, NotFound
from organisation.models import Role
from organisation.policy import PersonalDataViewer
from organisation.selectors import units_for_user, user_has_role_at_unit
from processes.models import ProcessDefinition
from tasks.forms import form_data_from_post, form_fields
from tasks.selectors import (
    INBOX_TABS,
    InboxFilters,
    case_history,
    lane_colleagues,
    user_task_get_for_user,
    user_task_inbox,
    user_task_inbox_counts,
)
from tasks.services.assignment import (
    user_task_claim,
    user_task_delegate,
    user_task_draft_save,
    user_task_holds_lane,
    user_task_reassign,
    user_task_unclaim,
)
from tasks.services.user_tasks import user_task_complete, user_task_form_schema, user_task_may_complete


def _filters(request: HttpRequest) -> InboxFilters:
    tab = request.GET.get("tab", "mine")
    due = parse_date(request.GET.get("due_before", "") or "")
    unit = request.GET.get("unit", "")
    return InboxFilters(
        tab=tab if tab in INBOX_TABS else "mine",
        process=request.GET.get("process", ""),
        unit=int(unit) if unit.isdigit() else None,
        due_before=timezone.make_aware(datetime.combine(due, time.max)) if due else None,
        overdue_only=request.GET.get("overdue") == "1",
    )


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    page = user_task_inbox(request.user, filters, request.GET.get("page", 1))
    viewer = PersonalDataViewer(request.user)
    return render(
        request,
        "tasks/inbox.html",
        {
            "page": page,
            "filters": filters,
            "counts": user_task_inbox_counts(request.user),
            "rows": [(task, viewer.name(task.instance.pupil)) for task in page.object_list],
            "processes": ProcessDefinition.objects.order_by("name_sv"),
            "units": units_for_user(request.user),
            "now": timezone.now(),
            "query": request.GET.urlencode(),
        },
    )


def _task_or_404(request: HttpRequest, pk: int):
    try:
        return user_task_get_for_user(request.user, pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task_or_404(request, pk)
    schema = user_task_form_schema(task) or {"type": "object", "properties": {}}
    values = {**task.prefill, **task.draft}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = form_data_from_post(schema, request.POST)
        try:
            if errors:
                raise ApplicationError("form_invalid", _("The form has errors."), errors=errors)
            if request.POST.get("action") == "draft":
                user_task_draft_save(task, user=request.user, data=data)
                messages.success(request, _("Your draft was saved. You can come back and finish later."))
                return redirect("tasks:detail", pk=task.pk)
            user_task_complete(task_id=task.pk, user=request.user, data=data, loaded=task)
            messages.success(request, _("Done: “%(task)s” is completed.") % {"task": task.name})
            return redirect("tasks:inbox")
        except ApplicationError as exc:
            errors = exc.extra.get("errors", errors)
            messages.error(request, exc.message)
            values = {**task.prefill, **data}
    viewer = PersonalDataViewer(request.user)
    pupil = task.instance.pupil
    case_read_record(request.user, task.instance, user_task_id=task.pk)
    return render(
        request,
        "tasks/detail.html",
        {
            "task": task,
            "fields": form_fields(schema, values, errors),
            "form_title": schema.get("title", task.name),
            "history": case_history(task),
            "can_complete": user_task_may_complete(request.user, task),
            "pupil_name": viewer.name(pupil),
            "pupil_personnummer": viewer.personnummer(pupil),
            "lane_is_staff": task.lane not in ("guardian", "pupil"),
            "others": [c for c in lane_colleagues(task) if c.pk != request.user.pk]
            if task.lane not in ("guardian", "pupil")
            else [],
            "is_principal": user_has_role_at_unit(request.user, Role.PRINCIPAL, task.unit_id),
            "holds_lane": user_task_holds_lane(request.user, task),
            "now": timezone.now(),
        },
        status=422 if errors else 200,
    )


def _assignment_action(request: HttpRequest, pk: int, action) -> HttpResponse:
    task = _task_or_404(request, pk)
    try:
        action(task)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("tasks:detail", pk=task.pk)


def _colleague(request: HttpRequest):
    user_id = request.POST.get("to_user", "")
    return get_user_model().objects.filter(pk=user_id).first() if user_id.isdigit() else None


@login_required
@require_POST
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    return _assignment_action(request, pk, lambda task: user_task_claim(task, user=request.user))


@login_required
@require_POST
def unclaim(request: HttpRequest, pk: int) -> HttpResponse:
    return _assignment_action(request, pk, lambda task: user_task_unclaim(task, user=request.user))


@login_required
@require_POST
def delegate(request: HttpRequest, pk: int) -> HttpResponse:
    colleague = _colleague(request)
    if colleague is None:
        messages.error(request, _("Choose a colleague."))
        return redirect("tasks:detail", pk=pk)
    return _assignment_action(
        request, pk, lambda t: user_task_delegate(t, user=request.user, to_user=colleague)
    )


@login_required
@require_POST
def reassign(request: HttpRequest, pk: int) -> HttpResponse:
    colleague = _colleague(request)
    return _assignment_action(
        request, pk, lambda t: user_task_reassign(t, principal=request.user, to_user=colleague)
    )
