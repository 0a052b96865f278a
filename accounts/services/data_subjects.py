"""A pupil's rights as a data subject (GDPR art. 15–17): an export of everything held about them, the
rectification of their registry data, and erasure by pseudonymisation once retention allows it.

Each request, done or refused, is recorded as a DataSubjectRequest; an export is also an audited read
(`record.read`) in the audit chain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import DataSubjectRequest
from audit.models import AuditEvent, RetentionRule, Verb
from audit.services import RetentionPolicy, audit_event_record, case_retention_apply
from common.errors import ApplicationError, Conflict
from organisation.models import Pupil
from processes.models import ProcessInstance
from tasks.models import UserTask

RECTIFIABLE_FIELDS = ("first_name", "last_name", "grade")
OPEN_STATUSES = (ProcessInstance.Status.RUNNING, ProcessInstance.Status.ERROR)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def pupil_data_export(pupil: Pupil, *, actor: Any) -> dict[str, Any]:
    """Everything held about the pupil: registry data, guardians, cases, tasks with their form data, and
    the audit events of those cases. Records the read in the audit chain."""
    instances = list(
        ProcessInstance.objects.filter(pupil=pupil)
        .select_related("version__definition", "unit")
        .order_by("started_at")
    )
    ids = [i.pk for i in instances]
    tasks = (
        UserTask.objects.filter(instance_id__in=ids).select_related("completed_by").order_by("ready_at", "pk")
    )
    events = AuditEvent.objects.filter(instance_id__in=ids).order_by("id")
    export = {
        "pupil": {
            "id": pupil.pk,
            "personnummer": pupil.personnummer,
            "first_name": pupil.first_name,
            "last_name": pupil.last_name,
            "grade": pupil.grade,
            "unit": {"code": pupil.unit.code, "name": pupil.unit.name},
        },
        "guardians": [
            {
                "first_name": c.guardian.first_name,
                "last_name": c.guardian.last_name,
                "email": c.guardian.email,
                "phone": c.guardian.phone,
                "has_custody": c.has_custody,
            }
            for c in pupil.custodies.select_related("guardian").order_by("pk")
        ],
        "cases": [
            {
                "id": str(i.pk),
                "process": i.version.definition.key,
                "version": i.version.number,
                "unit": i.unit.name,
                "subject": i.subject,
                "status": i.status,
                "started_at": _iso(i.started_at),
                "completed_at": _iso(i.completed_at),
            }
            for i in instances
        ],
        "tasks": [
            {
                "case": str(t.instance_id),
                "name": t.name,
                "lane": t.lane,
                "status": t.status,
                "ready_at": _iso(t.ready_at),
                "completed_at": _iso(t.completed_at),
                "completed_by": t.completed_by.get_username() if t.completed_by else None,
                "data": t.data,
                "draft": t.draft,
            }
            for t in tasks
        ],
        "events": [
            {
                "case": str(e.instance_id),
                "occurred_at": _iso(e.occurred_at),
                "verb": e.verb,
                "actor": e.actor_label,
                "element": e.element_name or e.element_id,
                "before": e.before,
                "after": e.after,
            }
            for e in events
        ],
    }
    with transaction.atomic():
        audit_event_record(
            Verb.RECORD_READ,
            actor=actor,
            unit_id=pupil.unit_id,
            after={"page": "data_subject_export", "pupil": pupil.pk, "cases": len(ids)},
        )
        DataSubjectRequest.objects.create(
            kind=DataSubjectRequest.Kind.ACCESS,
            outcome=DataSubjectRequest.Outcome.DONE,
            pupil_id_ref=pupil.pk,
            actor=actor if getattr(actor, "pk", None) else None,
            detail={"cases": len(ids), "tasks": len(export["tasks"]), "events": len(export["events"])},
        )
    return export


def pupil_rectify(pupil: Pupil, *, actor: Any, changes: dict[str, str]) -> Pupil:
    """Correct the pupil's registry data (names, grade); records what was before and after.

    Raises ApplicationError `rectification_field_refused` for any other field."""
    refused = sorted(set(changes) - set(RECTIFIABLE_FIELDS))
    if refused:
        raise ApplicationError(
            "rectification_field_refused",
            _("Only these fields can be corrected here: %(fields)s.")
            % {"fields": ", ".join(RECTIFIABLE_FIELDS)},
            fields=refused,
        )
    with transaction.atomic():
        locked = Pupil.objects.select_for_update().get(pk=pupil.pk)
        before = {name: getattr(locked, name) for name in changes}
        # An update, not save(): save() re-normalises the personnummer, which an erased pupil no longer has.
        if changes:
            Pupil.objects.filter(pk=locked.pk).update(**changes)
        locked.refresh_from_db()
        DataSubjectRequest.objects.create(
            kind=DataSubjectRequest.Kind.RECTIFICATION,
            outcome=DataSubjectRequest.Outcome.DONE,
            pupil_id_ref=pupil.pk,
            actor=actor if getattr(actor, "pk", None) else None,
            detail={"before": before, "after": dict(changes)},
        )
    return locked


def _retention_days(instance: ProcessInstance) -> int:
    from audit.models import RetentionRule

    rule = RetentionRule.objects.filter(process_key=instance.version.definition.key).first()
    if rule is not None:
        return rule.keep_for_days
    return int(instance.version.manifest.get("retention_days") or 0)


def _refuse(pupil: Pupil, actor: Any, code: str, message: str) -> Conflict:
    # The refusal is recorded even though the caller's transaction (if any) is the request itself.
    DataSubjectRequest.objects.create(
        kind=DataSubjectRequest.Kind.ERASURE,
        outcome=DataSubjectRequest.Outcome.REFUSED,
        pupil_id_ref=pupil.pk,
        actor=actor if getattr(actor, "pk", None) else None,
        detail={"code": code},
    )
    return Conflict(code, message)


def pupil_erase(pupil: Pupil, *, actor: Any, now: Any = None) -> Pupil:
    """Pseudonymise the pupil: names, personnummer and account link in the registry; and purge their
    cases as retention would (form data of every task, the audit events' before/after, the engine
    state, received messages; the cases lose their link to the pupil). Cases, tasks, their times and
    the audit chain stay, so statistics are unchanged and the chain still verifies.

    Raises Conflict `case_open` while a case is running or stopped on an error, and `retention_period`
    while a closed case is within its retention period (RetentionRule, else the manifest's
    `retention_days`)."""
    now = now or timezone.now()
    instances = list(ProcessInstance.objects.filter(pupil=pupil).select_related("version__definition"))
    if any(i.status in OPEN_STATUSES for i in instances):
        raise _refuse(
            pupil, actor, "case_open", _("The pupil has an open case; erasure waits until it is closed.")
        )
    for instance in instances:
        closed = instance.completed_at or instance.updated_at
        if closed + timedelta(days=_retention_days(instance)) > now:
            raise _refuse(
                pupil,
                actor,
                "retention_period",
                _("A case of the pupil is within its retention period; it cannot be erased yet."),
            )
    with transaction.atomic():
        Pupil.objects.filter(pk=pupil.pk).update(
            first_name=_("Erased"),
            last_name=_("pupil %(id)s") % {"id": pupil.pk},
            personnummer=f"X{pupil.pk:011d}"[-12:],
            user=None,
        )
        pupil.custodies.all().delete()
        ids = [i.pk for i in instances]
        UserTask.objects.filter(instance_id__in=ids).update(data={}, draft={}, prefill={})
        ProcessInstance.objects.filter(pk__in=ids).update(subject="", error_context={})
        for instance in instances:
            # The same redaction as retention's purge, so the trail's answers go too and the chain
            # records (retention.applied) which events were redacted. Skipped where retention ran.
            purge = RetentionPolicy(
                instance.version.definition.key, _retention_days(instance), RetentionRule.Action.PURGE
            )
            case_retention_apply(instance.pk, purge, now=now)
        DataSubjectRequest.objects.create(
            kind=DataSubjectRequest.Kind.ERASURE,
            outcome=DataSubjectRequest.Outcome.DONE,
            pupil_id_ref=pupil.pk,
            actor=actor if getattr(actor, "pk", None) else None,
            detail={"cases": len(ids)},
        )
    pupil.refresh_from_db()
    return pupil
