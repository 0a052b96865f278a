"""Starting cases and saving what the engine did: state, user tasks, timers, subscriptions, audit.

Every write to an instance happens inside one transaction that holds the instance row lock:
load → run → save state → project → audit. The engine never sees Django; this module translates.
"""

from __future__ import annotations

import hashlib
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
from audit.services import audit_event_record, audit_events_record
from common.errors import ApplicationError, Conflict
from organisation.models import Pupil, SchoolUnit
from processes.engine import EngineError, Workflow, workflow_load, workflow_start
from processes.models import BulkStart, MessageSubscription, ProcessInstance, ProcessVersion, WaitingTimer
from processes.services.bundles import bundle_for_version
from processes.services.forms import form_prefill
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


def _guardian_of(info: Any, instance: ProcessInstance) -> int | None:
    """The guardian a guardian-lane task belongs to, from the step's `guardian_record` (one task per
    guardian with custody, docs/conventions.md); only guardians of the case's pupil qualify."""
    record = info.data.get("guardian_record") if isinstance(info.data, dict) else None
    guardian_id = str((record or {}).get("guardian_id", "")) if info.lane == "guardian" else ""
    if not guardian_id.isdigit() or instance.pupil_id is None:
        return None
    # .all() uses the custodies a bulk start prefetched, instead of one query per guardian task.
    custodians = {c.guardian_id for c in instance.pupil.custodies.all()}
    return int(guardian_id) if int(guardian_id) in custodians else None


def _wait_signature(timers: list[Any], subscriptions: list[tuple[str, str]]) -> str:
    text = json.dumps(
        [[(t.task_id, t.element_id, t.due_at.isoformat()) for t in timers], sorted(subscriptions)]
    )
    return hashlib.sha256(text.encode()).hexdigest()


_INSTANCE_FIELDS = [
    "state",
    "state_version",
    "revision",
    "end_events",
    "status",
    "completed_at",
    "error_code",
    "error_message",
    "error_element_id",
    "error_expression",
    "error_context",
    "wait_signature",
    "updated_at",
]


def instance_persist(
    instance: ProcessInstance,
    workflow: Workflow,
    *,
    actor: Any = None,
    now: datetime | None = None,
    events: list[dict[str, Any]] | None = None,
) -> list[UserTask]:
    """Save the engine state and project it. Caller holds the instance row lock in a transaction.

    `events` are the caller's audit events for this step; they are written first, in one batch with
    the projection's own events. Returns the user tasks that became ready in this step.
    """
    now = now or timezone.now()
    version = instance.version
    pending = list(events or [])
    audit = {"actor": actor, "unit_id": instance.unit_id, "instance_id": instance.pk, "occurred_at": now}
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
        instance.error_code = instance.error_message = instance.error_element_id = ""
        instance.error_expression = ""
        instance.error_context = {}

    ready = {task.task_id: task for task in workflow.ready_user_tasks()}
    open_tasks = {t.engine_task_id: t for t in instance.user_tasks.filter(status=UserTask.Status.OPEN)}
    stale = [task for engine_task_id, task in open_tasks.items() if engine_task_id not in ready]
    if stale:
        # An interrupting timer or a message took the step away from the person.
        UserTask.objects.filter(pk__in=[t.pk for t in stale]).update(
            status=UserTask.Status.CANCELLED, completed_at=now
        )
        pending += [
            {
                **audit,
                "verb": Verb.TASK_CANCELLED,
                "user_task_id": t.pk,
                "element_id": t.element_id,
                "element_name": t.name,
                "lane": t.lane,
            }
            for t in stale
        ]
    created = UserTask.objects.bulk_create(
        [
            UserTask(
                instance=instance,
                engine_task_id=engine_task_id,
                element_id=info.element_id,
                name=info.name or info.element_id,
                lane=info.lane or "",
                unit_id=instance.unit_id,
                form_name=info.form or "",
                ready_at=now,
                due_at=info.due_at or iso_duration_after(now, version.default_task_due),
                guardian_id=_guardian_of(info, instance),
                prefill=form_prefill(version.forms.get(info.form or ""), info.data),
            )
            for engine_task_id, info in ready.items()
            if engine_task_id not in open_tasks
        ]
    )
    pending += [
        {
            **audit,
            "verb": Verb.TASK_READY,
            "user_task_id": t.pk,
            "element_id": t.element_id,
            "element_name": t.name,
            "lane": t.lane,
            "after": {"due_at": t.due_at.isoformat()},
        }
        for t in created
    ]

    timers = [t for t in workflow.waiting_timers() if t.due_at is not None]
    waiting_messages = workflow.waiting_messages()
    data = workflow.data if waiting_messages else {}
    subscriptions = [
        (m["name"], correlation_key({prop: data.get(prop) for prop in m["correlation_properties"]}))
        for m in waiting_messages
    ]
    signature = _wait_signature(timers, subscriptions)
    if signature != instance.wait_signature:
        # Rewritten only when what the case waits for changed: most steps leave it as it was.
        if instance.wait_signature:
            instance.timers.all().delete()
            instance.subscriptions.all().delete()
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
                for t in timers
            ]
        )
        MessageSubscription.objects.bulk_create(
            [
                MessageSubscription(instance=instance, message_name=name, correlation_key=key)
                for name, key in subscriptions
            ]
        )
        instance.wait_signature = signature
    instance.save(update_fields=_INSTANCE_FIELDS)
    if was_running and instance.status == ProcessInstance.Status.COMPLETED:
        pending.append(
            {**audit, "verb": Verb.INSTANCE_COMPLETED, "after": {"end_events": instance.end_events}}
        )
    audit_events_record(pending)
    return created


def process_instance_start(
    *,
    version: ProcessVersion,
    unit: SchoolUnit,
    initiator: Any = None,
    pupil: Pupil | None = None,
    subject: str = "",
    data: Mapping[str, Any] | None = None,
    bulk_start: BulkStart | None = None,
) -> ProcessInstance:
    """Start a case of a published version at a school unit. Raises ApplicationError on refusal.

    With `bulk_start` the case belongs to that bulk start; a second case for the same pupil in the
    same bulk start raises IntegrityError (the unique constraint), with nothing saved.
    """
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
            bulk_start=bulk_start,
            started_at=now,
        )
        started = {
            "verb": Verb.INSTANCE_STARTED,
            "actor": initiator,
            "unit_id": unit.pk,
            "instance_id": instance.pk,
            "version_id": version.pk,
            "occurred_at": now,
            "after": {"process": version.manifest.get("key", ""), "version": version.number},
        }
        instance_persist(instance, workflow, actor=initiator, now=now, events=[started])
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
            names = dict(locked.timers.filter(due_at__lte=now).values_list("element_id", "element_name"))
            if not names:
                return []  # already fired by an earlier (possibly interrupted and redelivered) pass
            workflow = instance_workflow(locked)
            fired = workflow.fire_due_timers(now)
            events = [
                {
                    "verb": Verb.TIMER_FIRED,
                    "unit_id": locked.unit_id,
                    "instance_id": locked.pk,
                    "element_id": element_id,
                    "element_name": names.get(element_id, ""),
                    "after": {"fired_at": now.isoformat()},
                    "occurred_at": now,
                }
                for element_id in fired
            ]
            instance_persist(locked, workflow, now=now, events=events)
            return fired
    except EngineError as exc:
        instance_error_record(ProcessInstance(pk=instance_id), exc, None, {"operation": "timers"})
        return []


def timers_fire_due(*, now: datetime | None = None, limit: int = 2000) -> int:
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
