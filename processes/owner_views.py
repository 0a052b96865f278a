"""Process owners' pages: the catalogue, one process (versions, drafts, pilots), the modeller, diffs,
diagrams, pilots and migrations. Thin views: parse input, call one service or selector, render.

Only process owners (permission `processes.manage_process`) get past `_owner_only`; everyone else
gets 403 (anonymous: the login page).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import ApplicationError, NotFound
from organisation.models import SchoolUnit
from organisation.policy import may_manage_processes
from processes.models import Pilot, ProcessDraft, ProcessVersion
from processes.selectors import (
    instance_migrations_for_process,
    migration_job_get,
    process_catalogue,
    process_definition_get,
    process_definition_overview,
    process_draft_get,
    process_draft_latest,
    process_instance_for_owner,
    process_version_by_id,
)
from processes.services.diff import process_diff
from processes.services.drafts import (
    MAX_UPLOAD_BYTES,
    forms_from_json,
    main_file_name,
    process_draft_from_upload,
    process_draft_publish,
    process_draft_save,
)
from processes.services.migration import instance_migration_undo, migration_job_request, migration_plan
from processes.services.pilots import pilot_create, pilot_end
from processes.services.rendering import draft_svg, instance_svg, legend, version_svg
from processes.services.versions import process_version_retire

View = Callable[..., HttpResponse]


def _owner_only(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_manage_processes(request.user):
            raise Forbidden(_("Only process owners may do this."))
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapped


def _source(ref: str) -> ProcessVersion | ProcessDraft:
    """`v<id>` is a version, `d<id>` a draft (URLs say `version`/`draft`)."""
    kind, number = (ref or "")[:1], (ref or "")[1:]
    if not number.isdigit() or kind not in ("v", "d"):
        raise NotFound("source_not_found", _("Choose a version or a draft."))
    return process_version_by_id(int(number)) if kind == "v" else process_draft_get(int(number))


def _svg(text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = "private, max-age=60"
    return response


@_owner_only
@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    return render(request, "processes/owner/catalogue.html", {"rows": process_catalogue()})


@_owner_only
@require_GET
def definition_detail(request: HttpRequest, key: str) -> HttpResponse:
    context = process_definition_overview(process_definition_get(key))
    context["migrations"] = instance_migrations_for_process(context["definition"])[:20]
    return render(request, "processes/owner/definition.html", context)


@_owner_only
@require_http_methods(["GET", "POST"])
def modeler(request: HttpRequest, key: str) -> HttpResponse:
    """GET opens a draft (?draft=), a version (?version=) or the latest of either; POST saves a draft."""
    status = 200
    if request.method == "POST":
        based_on = request.POST.get("based_on", "")
        try:
            forms = forms_from_json(request.POST.get("forms", "{}"))
            draft = process_draft_save(
                key=key,
                bpmn=request.POST.get("bpmn", ""),
                forms=forms,
                author=request.user,
                changelog=request.POST.get("changelog", "").strip(),
                based_on=process_version_by_id(int(based_on)) if based_on.isdigit() else None,
                name_sv=request.POST.get("name_sv", "").strip(),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = 422 if exc.status < 500 else exc.status
        else:
            if draft.problems:
                messages.error(request, _("The draft was saved with problems; fix them before publishing."))
            else:
                messages.success(request, _("The draft was saved without problems."))
            return redirect(f"{reverse('processes:owner_modeler', args=[key])}?draft={draft.pk}")
    draft_id, version_id = request.GET.get("draft", ""), request.GET.get("version", "")
    source: ProcessVersion | ProcessDraft | None
    if draft_id.isdigit():
        source = process_draft_get(int(draft_id))
    elif version_id.isdigit():
        source = process_version_by_id(int(version_id))
    else:
        source = process_draft_latest(key)
        if source is None:
            source = ProcessVersion.objects.filter(definition__key=key).order_by("-number").first()
    xml = ""
    if source is not None:
        xml = source.files.get(main_file_name(source.manifest, source.files), "")
    context = {
        "key": key,
        "source": source,
        "is_draft": isinstance(source, ProcessDraft),
        "based_on": source if isinstance(source, ProcessVersion) else getattr(source, "based_on", None),
        "problems": source.problems if isinstance(source, ProcessDraft) else [],
        "modeler_data": {"key": key, "xml": xml},
        "forms_text": json.dumps(source.forms if source else {}, ensure_ascii=False, indent=2),
        "max_upload": MAX_UPLOAD_BYTES,
    }
    return render(request, "processes/owner/modeler.html", context, status=status)


@_owner_only
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    key = request.POST.get("key", "").strip()
    upload_file = request.FILES.get("file")
    try:
        if not key or not key.replace("_", "").replace("-", "").isalnum() or len(key) > 64:
            raise ApplicationError("key_invalid", _("Give the process a key of letters, digits and _."))
        if upload_file is None:
            raise ApplicationError("file_required", _("Choose a .bpmn file."))
        if upload_file.size > MAX_UPLOAD_BYTES:
            raise ApplicationError("bundle_too_large", _("The file is larger than 1 MB."), status=413)
        draft = process_draft_from_upload(
            key=key.lower(),
            content=upload_file.read(),
            author=request.user,
            changelog=request.POST.get("changelog", ""),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("processes:owner_catalogue")
    if draft.problems:
        messages.error(
            request, _("The upload was saved as a draft with problems; fix them before publishing.")
        )
    return redirect(f"{reverse('processes:owner_modeler', args=[draft.key])}?draft={draft.pk}")


@_owner_only
@require_GET
def download(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    source = _source(f"{kind[:1]}{pk}")
    key = source.definition.key if isinstance(source, ProcessVersion) else source.key
    suffix = f"v{source.number}" if isinstance(source, ProcessVersion) else f"draft{source.revision}"
    text = source.files.get(main_file_name(source.manifest, source.files), "")
    response = HttpResponse(text, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{key}-{suffix}.bpmn"'
    return response


@_owner_only
@require_POST
def draft_publish(request: HttpRequest, pk: int) -> HttpResponse:
    draft = process_draft_get(pk)
    try:
        version = process_draft_publish(draft, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        for problem in exc.extra.get("problems", []):
            messages.error(
                request, f"{problem.get('element_id') or problem.get('file') or ''}: {problem['message']}"
            )
        return redirect(f"{reverse('processes:owner_modeler', args=[draft.key])}?draft={draft.pk}")
    messages.success(request, _("Version %(number)s is published.") % {"number": version.number})
    return redirect("processes:owner_definition", key=version.definition.key)


@_owner_only
@require_POST
def version_retire(request: HttpRequest, pk: int) -> HttpResponse:
    version = process_version_by_id(pk)
    try:
        process_version_retire(version, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("processes:owner_definition", key=version.definition.key)


@_owner_only
@require_GET
def diff_view(request: HttpRequest, key: str) -> HttpResponse:
    definition = process_definition_get(key)
    overview = process_definition_overview(definition)
    old_ref, new_ref = request.GET.get("from", ""), request.GET.get("to", "")
    versions = [(f"v{v.pk}", f"v{v.number} ({v.get_status_display()})") for v in overview["versions"]]
    drafts = [(f"d{d.pk}", _("draft revision %(n)s") % {"n": d.revision}) for d in overview["drafts"]]
    context: dict[str, Any] = {
        **overview,
        "from_ref": old_ref or (versions[0][0] if versions else ""),
        "to_ref": new_ref or (drafts[0][0] if drafts else ""),
        "sources": versions + drafts,
    }
    if old_ref and new_ref:
        old, new = _source(old_ref), _source(new_ref)
        diff = process_diff(old, new)
        context.update(
            old=old,
            new=new,
            diff=diff,
            canvas_data={
                "xml": new.files.get(main_file_name(new.manifest, new.files), ""),
                "added": diff.added,
                "changed": diff.changed,
            },
        )
    return render(request, "processes/owner/diff.html", context)


@_owner_only
@require_GET
def diagram(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    source = _source(f"{kind[:1]}{pk}")
    return _svg(version_svg(source) if isinstance(source, ProcessVersion) else draft_svg(source))


@_owner_only
@require_GET
@never_cache
def case_diagram(request: HttpRequest, case_id: Any) -> HttpResponse:
    return _svg(instance_svg(process_instance_for_owner(case_id)))


@_owner_only
@require_GET
def case_diagram_page(request: HttpRequest, case_id: Any) -> HttpResponse:
    instance = process_instance_for_owner(case_id)
    return render(request, "processes/owner/case_diagram.html", {"instance": instance, "legend": legend()})


def _date(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ApplicationError("date_invalid", _("%(field)s is not a date.") % {"field": field}) from exc


@_owner_only
@require_POST
def pilot_new(request: HttpRequest, key: str) -> HttpResponse:
    try:
        version_id, unit_id = request.POST.get("version", ""), request.POST.get("unit", "")
        version = process_version_by_id(int(version_id)) if version_id.isdigit() else None
        unit = SchoolUnit.objects.filter(pk=unit_id).first() if unit_id.isdigit() else None
        if version is None or version.definition.key != key or unit is None:
            raise ApplicationError(
                "pilot_choice_required", _("Choose a published version and a school unit.")
            )
        pilot = pilot_create(
            version=version,
            unit=unit,
            starts_on=_date(request.POST.get("starts_on", ""), _("Start")) or timezone.localdate(),
            ends_on=_date(request.POST.get("ends_on", ""), _("End")),
            actor=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Version %(number)s is piloted at %(unit)s.")
            % {"number": pilot.version.number, "unit": unit.name},
        )
    return redirect("processes:owner_definition", key=key)


@_owner_only
@require_POST
def pilot_stop(request: HttpRequest, pk: int) -> HttpResponse:
    pilot = Pilot.objects.select_related("version__definition").filter(pk=pk).first()
    if pilot is None:
        raise Http404
    try:
        pilot_end(pilot, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("processes:owner_definition", key=pilot.version.definition.key)


@_owner_only
@require_http_methods(["GET", "POST"])
def migrate(request: HttpRequest, key: str) -> HttpResponse:
    """GET with from/to: the dry run; POST: queue the migration job of every case that can move."""
    definition = process_definition_get(key)
    overview = process_definition_overview(definition)
    data = request.POST if request.method == "POST" else request.GET
    old_id, new_id = data.get("from", ""), data.get("to", "")
    context: dict[str, Any] = {**overview, "from_id": old_id, "to_id": new_id}
    if old_id.isdigit() and new_id.isdigit():
        old, new = process_version_by_id(int(old_id)), process_version_by_id(int(new_id))
        try:
            if request.method == "POST":
                job = migration_job_request(old, new, actor=request.user)
                return redirect("processes:owner_migration_job", pk=job.pk)
            context["plan"] = migration_plan(old, new, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return render(request, "processes/owner/migrate.html", context)


@_owner_only
@require_GET
@never_cache
def migration_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = migration_job_get(pk)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "status": job.status,
                "total": job.total,
                "migrated": job.migrated_count,
                "skipped": job.skipped_count,
            }
        )
    response = render(request, "processes/owner/migration_job.html", {"job": job})
    if job.status != job.Status.COMPLETED:
        response["Refresh"] = "2"
    return response


@_owner_only
@require_POST
def migration_undo(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        instance = instance_migration_undo(pk, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("processes:owner_catalogue")
    messages.success(
        request, _("The case is back on version %(number)s.") % {"number": instance.version.number}
    )
    return redirect("processes:owner_definition", key=instance.version.definition.key)
