"""Starting cases and saving what the engine did: state, user tasks, timers, subscriptions, audit.

Every write to an instance happens inside one transaction that holds the instance row lock:
load → run → save state → project → audit. The engine never sees Django; this module translates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import ApplicationError, Conflict
from organisation.models import Pupil, SchoolUnit
from processes.engine import EngineError, Workflow, workflow_load, workflow_start
from processes.models import MessageSubscription, ProcessInstance, ProcessVersion, WaitingTimer
from processes.services.bundles import bundle_for_version
from tasks.models import UserTask

_ISO_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def iso_duration_after(start: datetime, duration: str) -> datetime:
    match = _ISO_DURATION.match(duration or "")
    if not match or duration in {"P", "PT"}:
        raise ValueError(f"not an ISO 8601 duration: {duration!r}")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return start + relativedelta(**parts)


def correlation_key(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"), default=str)


def instance_error_record(
    instance: ProcessInstance, error: EngineError, actor: Any, context: Mapping[str, Any] | None = None
) -> None:
    """Mark the case as stopped on an error, in its own transaction, keeping the last good state.

    `context` says what was being attempted (kept for process_instance_retry).
    """
    with transaction.atomic():
        locked = ProcessInstance.objects.select_for_update().get(pk=instance.pk)
        locked.status = ProcessInstance.Status.ERROR
        locked.error_code = error.code
        locked.error_message = error.message
        locked.error_element_id = error.element_id or ""
        locked.error_expression = getattr(error, "expression", None) or ""
        locked.error_context = dict(context or {"operation": "run"})
        locked.save(
            update_fields=[
                "status",
                "error_code",
                "error_message",
                "error_element_id",
                "error_expression",
                "error_context",
                "updated_at",
            ]
        )
        audit_event_record(
            Verb.INSTANCE_ERRORED,
            actor=actor,
            unit_id=locked.unit_id,
            instance_id=locked.pk,
            element_id=locked.error_element_id,
            after={"code": error.code, "message": error.message, "expression": locked.error_expression},
        )
    instance.refresh_from_db()


def engine_error_to_application(error: EngineError) -> ApplicationError:
    return ApplicationError(
        "engine_error",
        _("The process stopped at %(element)s: %(message)s")
        % {"element": error.element_name or error.element_id or "?", "message": error.message},
        status=422,
        element_id=error.element_id,
        expression=getattr(error, "expression", None),
    )


def instance_persist(
    instance: ProcessInstance, workflow: Workflow, *, actor: Any = None, now: datetime | None = None
) -> list[UserTask]:
    """Save the engine state and project it. Caller holds the instance row lock in a transaction.

    Returns the user tasks that became ready in this step.
    """
    now = now or timezone.now()
    version = instance.version
    instance.state = workflow.dump_state()
    instance.state_version = instance.state.get("state_version", "")
    instance.revision += 1
    instance.end_events = workflow.completed_end_events()
    was_running = instance.status != ProcessInstance.Status.COMPLETED
    if workflow.is_completed:
        instance.status = ProcessInstance.Status.COMPLETED
        instance.completed_at = instance.completed_at or now
    elif instance.status == ProcessInstance.Status.ERROR:
        instance.status = ProcessInstance.Status.RUNNING
    if instance.status != ProcessInstance.Status.ERROR:
        instance.error_code = instance.error_message = instance.error_element_id = (
            instance.error_expression
        ) = ""
        instance.error_context = {}
    instance.save()

    ready = {task.task_id: task for task in workflow.ready_user_tasks()}
    open_tasks = {t.engine_task_id: t for t in instance.user_tasks.filter(status=UserTask.Status.OPEN)}
    for engine_task_id, stale in open_tasks.items():
        if engine_task_id not in ready:
            # An interrupting timer or a message took the step away from the person.
            stale.status = UserTask.Status.CANCELLED
            stale.completed_at = now
            stale.save(update_fields=["status", "completed_at"])
            audit_event_record(
                Verb.TASK_CANCELLED,
                actor=actor,
                unit_id=instance.unit_id,
                instance_id=instance.pk,
                user_task_id=stale.pk,
                element_id=stale.element_id,
                element_name=stale.name,
                lane=stale.lane,
                occurred_at=now,
            )
    created: list[UserTask] = []
    for engine_task_id, info in ready.items():
        if engine_task_id in open_tasks:
            continue
        due_at = info.due_at or iso_duration_after(now, version.default_task_due)
        task = UserTask.objects.create(
            instance=instance,
            engine_task_id=engine_task_id,
            element_id=info.element_id,
            name=info.name or info.element_id,
            lane=info.lane or "",
            unit_id=instance.unit_id,
            form_name=info.form or "",
            ready_at=now,
            due_at=due_at,
        )
        created.append(task)
        audit_event_record(
            Verb.TASK_READY,
            actor=actor,
            unit_id=instance.unit_id,
            instance_id=instance.pk,
            user_task_id=task.pk,
            element_id=task.element_id,
            element_name=task.name,
            lane=task.lane,
            after={"due_at": due_at.isoformat()},
            occurred_at=now,
        )

    instance.timers.all().delete()
    WaitingTimer.objects.bulk_create(
        [
            WaitingTimer(
                instance=instance,
                engine_task_id=t.task_id,
                element_id=t.element_id,
                element_name=t.element_name or "",
                kind=t.kind,
                due_at=t.due_at,
            )
            for t in workflow.waiting_timers()
            if t.due_at is not None
        ]
    )
    instance.subscriptions.all().delete()
    data = workflow.data
    MessageSubscription.objects.bulk_create(
        [
            MessageSubscription(
                instance=instance,
                message_name=m["name"],
                correlation_key=correlation_key(
                    {prop: data.get(prop) for prop in m["correlation_properties"]}
                ),
            )
            for m in workflow.waiting_messages()
        ]
    )
    if was_running and instance.status == ProcessInstance.Status.COMPLETED:
        audit_event_record(
            Verb.INSTANCE_COMPLETED,
            actor=actor,
            unit_id=instance.unit_id,
            instance_id=instance.pk,
            after={"end_events": instance.end_events},
            occurred_at=now,
        )
    return created


def process_instance_start(
    *,
    version: ProcessVersion,
    unit: SchoolUnit,
    initiator: Any = None,
    pupil: Pupil | None = None,
    subject: str = "",
    data: Mapping[str, Any] | None = None,
) -> ProcessInstance:
    """Start a case of a published version at a school unit. Raises ApplicationError on refusal."""
    if version.status != ProcessVersion.Status.PUBLISHED:
        raise Conflict("version_not_published", _("Only a published version can start new cases."))
    if pupil is not None and pupil.unit_id != unit.pk:
        raise ApplicationError("pupil_not_at_unit", _("The pupil does not belong to that school unit."))
    start_data = dict(data or {})
    start_data.setdefault("unit_code", unit.code)
    bundle = bundle_for_version(version)
    try:
        workflow = workflow_start(bundle, start_data)
    except EngineError as exc:
        raise engine_error_to_application(exc) from exc
    now = timezone.now()
    with transaction.atomic():
        instance = ProcessInstance.objects.create(
            version=version,
            unit=unit,
            pupil=pupil,
            subject=subject,
            initiator=initiator if getattr(initiator, "pk", None) else None,
            started_at=now,
        )
        audit_event_record(
            Verb.INSTANCE_STARTED,
            actor=initiator,
            unit_id=unit.pk,
            instance_id=instance.pk,
            version_id=version.pk,
            after={"process": version.definition.key, "version": version.number},
            occurred_at=now,
        )
        instance_persist(instance, workflow, actor=initiator, now=now)
    return instance


def instance_lock(instance_id: Any) -> ProcessInstance:
    """Lock the instance row for the rest of the transaction (SELECT … FOR UPDATE)."""
    return ProcessInstance.objects.select_for_update().select_related("version").get(pk=instance_id)


def instance_workflow(instance: ProcessInstance) -> Workflow:
    return workflow_load(bundle_for_version(instance.version), instance.state)


def instance_due_timers_fire(instance_id: Any, *, now: datetime | None = None) -> list[str]:
    """Fire what is due for one instance, if another worker is not already doing it. Idempotent."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            locked = (
                ProcessInstance.objects.select_for_update(skip_locked=True)
                .select_related("version")
                .filter(pk=instance_id, status=ProcessInstance.Status.RUNNING)
                .first()
            )
            if locked is None:
                return []  # being handled by another worker, finished, or stopped on an error
            if not locked.timers.filter(due_at__lte=now).exists():
                return []  # already fired by an earlier (possibly interrupted and redelivered) pass
            workflow = instance_workflow(locked)
            fired = workflow.fire_due_timers(now)
            for element_id in fired:
                timer = locked.timers.filter(element_id=element_id).first()
                audit_event_record(
                    Verb.TIMER_FIRED,
                    unit_id=locked.unit_id,
                    instance_id=locked.pk,
                    element_id=element_id,
                    element_name=timer.element_name if timer else "",
                    after={"fired_at": now.isoformat()},
                    occurred_at=now,
                )
            instance_persist(locked, workflow, now=now)
            return fired
    except EngineError as exc:
        instance_error_record(ProcessInstance(pk=instance_id), exc, None, {"operation": "timers"})
        return []


def timers_fire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """One timer pass: wake only instances with a due timer, oldest first. Returns timers fired.

    Cost is proportional to the due timers, not to all waiting instances (indexed on due_at).
    """
    now = now or timezone.now()
    instance_ids = list(
        WaitingTimer.objects.filter(due_at__lte=now, instance__status=ProcessInstance.Status.RUNNING)
        .order_by("due_at")
        .values_list("instance_id", flat=True)[:limit]
    )
    fired = 0
    for instance_id in dict.fromkeys(instance_ids):
        fired += len(instance_due_timers_fire(instance_id, now=now))
    return fired
