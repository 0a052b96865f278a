"""Starting cases and saving what the engine did: state, user tasks, timers, subscriptions, audit.

Every write to an instance happens inside one transaction that holds the instance row lock:
load → run → save state → project → audit. The engine never sees Django; this module translates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    """A digest of what the case waits for, whose last two characters say whether it has timers
    ("t") and subscriptions ("m"), or not ("-"), so that the next change deletes only rows that exist.
    A signature written before these flags (64 hex digits) has no "-": both are deleted, as they were."""
    text = json.dumps(
        [[(t.task_id, t.element_id, t.due_at.isoformat()) for t in timers], sorted(subscriptions)]
    )
    flags = ("t" if timers else "-") + ("m" if subscriptions else "-")
    return hashlib.sha256(text.encode()).hexdigest()[:62] + flags


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


def _state_apply(instance: ProcessInstance, workflow: Workflow, now: datetime) -> bool:
    """Copy the engine's state onto the (unsaved) row; True when this step completed the case."""
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
    return was_running and instance.status == ProcessInstance.Status.COMPLETED


def _user_task_new(instance: ProcessInstance, engine_task_id: str, info: Any, now: datetime) -> UserTask:
    version = instance.version
    return UserTask(
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


def _waits(
    instance: ProcessInstance, workflow: Workflow
) -> tuple[str, list[WaitingTimer], list[MessageSubscription]]:
    """What the case waits for now: its signature, and the timer and subscription rows (unsaved)."""
    timers = [t for t in workflow.waiting_timers() if t.due_at is not None]
    waiting_messages = workflow.waiting_messages()
    data = workflow.data if waiting_messages else {}
    subscriptions = [
        (m["name"], correlation_key({prop: data.get(prop) for prop in m["correlation_properties"]}))
        for m in waiting_messages
    ]
    return (
        _wait_signature(timers, subscriptions),
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
        ],
        [
            MessageSubscription(instance=instance, message_name=name, correlation_key=key)
            for name, key in subscriptions
        ],
    )


def _task_events(audit: dict[str, Any], verb: Verb, tasks: list[UserTask]) -> list[dict[str, Any]]:
    return [
        {
            **audit,
            "verb": verb,
            "user_task_id": t.pk,
            "element_id": t.element_id,
            "element_name": t.name,
            "lane": t.lane,
            **({"after": {"due_at": t.due_at.isoformat()}} if verb == Verb.TASK_READY else {}),
        }
        for t in tasks
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
    pending = list(events or [])
    audit = {"actor": actor, "unit_id": instance.unit_id, "instance_id": instance.pk, "occurred_at": now}
    completed = _state_apply(instance, workflow, now)

    ready = {task.task_id: task for task in workflow.ready_user_tasks()}
    open_tasks = {t.engine_task_id: t for t in instance.user_tasks.filter(status=UserTask.Status.OPEN)}
    stale = [task for engine_task_id, task in open_tasks.items() if engine_task_id not in ready]
    if stale:
        # An interrupting timer or a message took the step away from the person.
        UserTask.objects.filter(pk__in=[t.pk for t in stale]).update(
            status=UserTask.Status.CANCELLED, completed_at=now
        )
        pending += _task_events(audit, Verb.TASK_CANCELLED, stale)
    created = UserTask.objects.bulk_create(
        [
            _user_task_new(instance, engine_task_id, info, now)
            for engine_task_id, info in ready.items()
            if engine_task_id not in open_tasks
        ]
    )
    pending += _task_events(audit, Verb.TASK_READY, created)

    signature, timers, subscriptions = _waits(instance, workflow)
    old = instance.wait_signature
    if signature != old:
        # Rewritten only when what the case waits for changed: most steps leave it as it was.
        if old and old[-2] != "-":
            instance.timers.all().delete()
        if old and old[-1] != "-":
            instance.subscriptions.all().delete()
        WaitingTimer.objects.bulk_create(timers)
        MessageSubscription.objects.bulk_create(subscriptions)
        instance.wait_signature = signature
    instance.save(update_fields=_INSTANCE_FIELDS)
    if completed:
        pending.append(
            {**audit, "verb": Verb.INSTANCE_COMPLETED, "after": {"end_events": instance.end_events}}
        )
    audit_events_record(pending)
    return created


@dataclass(frozen=True)
class CaseStart:
    """One case to start: at which unit, about which pupil (if any), under which reference and with
    which start data."""

    unit: SchoolUnit
    pupil: Pupil | None = None
    subject: str = ""
    data: Mapping[str, Any] | None = None


@dataclass
class _Started:
    """A case the engine has started, with its rows built but not yet inserted."""

    instance: ProcessInstance
    tasks: list[UserTask]
    timers: list[WaitingTimer]
    subscriptions: list[MessageSubscription]
    completed: bool


def _case_run(
    version: ProcessVersion,
    start: CaseStart,
    *,
    initiator: Any,
    bulk_start: BulkStart | None,
) -> _Started:
    """Run the engine for one new case and build its rows, outside any transaction (the engine is
    most of the cost of a start, and holds no lock). Raises ApplicationError."""
    if start.pupil is not None and start.pupil.unit_id != start.unit.pk:
        raise ApplicationError("pupil_not_at_unit", _("The pupil does not belong to that school unit."))
    start_data = dict(start.data or {})
    start_data.setdefault("unit_code", start.unit.code)
    try:
        workflow = workflow_start(bundle_for_version(version), start_data)
        now = timezone.now()
        instance = ProcessInstance(
            version=version,
            unit=start.unit,
            pupil=start.pupil,
            subject=start.subject,
            initiator=initiator if getattr(initiator, "pk", None) else None,
            bulk_start=bulk_start,
            started_at=now,
        )
        completed = _state_apply(instance, workflow, now)
        tasks = [_user_task_new(instance, task.task_id, task, now) for task in workflow.ready_user_tasks()]
        instance.wait_signature, timers, subscriptions = _waits(instance, workflow)
    except EngineError as exc:
        raise engine_error_to_application(exc) from exc
    return _Started(instance, tasks, timers, subscriptions, completed)


def _started_save(version: ProcessVersion, started: list[_Started], initiator: Any) -> None:
    """Insert the started cases with their tasks, timers and subscriptions, and append their audit
    events to the chain: one statement per table, in one transaction."""
    with transaction.atomic():
        ProcessInstance.objects.bulk_create([case.instance for case in started])
        UserTask.objects.bulk_create([task for case in started for task in case.tasks])
        WaitingTimer.objects.bulk_create([timer for case in started for timer in case.timers])
        MessageSubscription.objects.bulk_create([sub for case in started for sub in case.subscriptions])
        events: list[dict[str, Any]] = []
        for case in started:
            instance = case.instance
            audit = {
                "actor": initiator,
                "unit_id": instance.unit_id,
                "instance_id": instance.pk,
                "occurred_at": instance.started_at,
            }
            events.append(
                {
                    **audit,
                    "verb": Verb.INSTANCE_STARTED,
                    "version_id": version.pk,
                    "after": {"process": version.manifest.get("key", ""), "version": version.number},
                }
            )
            events += _task_events(audit, Verb.TASK_READY, case.tasks)
            if case.completed:
                events.append(
                    {**audit, "verb": Verb.INSTANCE_COMPLETED, "after": {"end_events": instance.end_events}}
                )
        audit_events_record(events)


def process_instances_start(
    *,
    version: ProcessVersion,
    starts: Sequence[CaseStart],
    initiator: Any = None,
    bulk_start: BulkStart | None = None,
) -> list[ProcessInstance | ApplicationError]:
    """Start several cases of a published version, all in one transaction: one insert per table and
    one append to the audit chain (one chain lock) for all of them. Returns, in the order of
    `starts`, each started case, or the ApplicationError of a start that was refused (the pupil is
    not at that unit, or the engine stopped on an error); the refused ones leave nothing behind and
    do not stop the others.

    Raises Conflict `version_not_published` (nothing starts). A database error, such as the
    IntegrityError of a second case for the same pupil in the same bulk start, rolls every case of
    the call back and propagates.
    """
    if version.status != ProcessVersion.Status.PUBLISHED:
        raise Conflict("version_not_published", _("Only a published version can start new cases."))
    results: list[_Started | ApplicationError] = []
    for start in starts:
        try:
            results.append(_case_run(version, start, initiator=initiator, bulk_start=bulk_start))
        except ApplicationError as exc:
            results.append(exc)
    started = [result for result in results if isinstance(result, _Started)]
    if started:
        _started_save(version, started, initiator)
    return [result.instance if isinstance(result, _Started) else result for result in results]


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
    (result,) = process_instances_start(
        version=version,
        starts=[CaseStart(unit=unit, pupil=pupil, subject=subject, data=data)],
        initiator=initiator,
        bulk_start=bulk_start,
    )
    if isinstance(result, ApplicationError):
        raise result
    return result


def instance_lock(instance_id: Any) -> ProcessInstance:
    """Lock the instance row for the rest of the transaction (SELECT … FOR UPDATE)."""
    # Only the instance's row (`of`): a bare FOR UPDATE would lock the joined version row too, and so
    # make every step of every case of a version, and every new case of it, wait for each other. The
    # version's serialized spec (tens of kB) is read only when the bundle cache misses it.
    return (
        ProcessInstance.objects.select_for_update(of=("self",))
        .select_related("version")
        .defer("version__spec")
        .get(pk=instance_id)
    )


def instance_workflow(instance: ProcessInstance) -> Workflow:
    return workflow_load(bundle_for_version(instance.version), instance.state)


def instance_due_timers_fire(instance_id: Any, *, now: datetime | None = None) -> list[str]:
    """Fire what is due for one instance, if another worker is not already doing it. Idempotent."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            locked = (
                # `of`: skip only cases another worker is firing, not every case of the same version.
                ProcessInstance.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("version")
                .defer("version__spec")
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
