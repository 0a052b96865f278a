"""Completing user tasks: validate on the server, run the engine, save, project and audit at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Verb
from common.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from organisation.models import Role
from organisation.selectors import user_has_role_at_unit
from processes.engine import EngineError
from processes.models import ProcessInstance
from processes.services.forms import form_data_errors, form_read_only_enforced
from processes.services.instances import (
    engine_error_to_application,
    instance_error_record,
    instance_lock,
    instance_persist,
    instance_workflow,
)
from tasks.models import UserTask


def user_task_may_complete(user: Any, task: UserTask) -> bool:
    """Anyone holding the lane's role at the task's unit, unless somebody else has claimed it."""
    if not getattr(user, "is_authenticated", False):
        return False
    if task.claimed_by_id is not None and task.claimed_by_id != user.pk:
        return False
    pupil = task.instance.pupil
    if task.lane == Role.GUARDIAN:
        if task.guardian_id is not None:
            return task.guardian.user_id == user.pk
        return pupil is not None and pupil.custodies.filter(guardian__user=user).exists()
    if task.lane == Role.PUPIL:
        return pupil is not None and pupil.user_id == user.pk
    return user_has_role_at_unit(user, task.lane, task.unit_id)


def user_task_form_schema(task: UserTask) -> dict[str, Any] | None:
    """The form schema pinned in the task's version (forms never drift from their model)."""
    if not task.form_name:
        return None
    return task.instance.version.forms.get(task.form_name)


def user_task_complete(
    *, task_id: int, user: Any, data: Mapping[str, Any], loaded: UserTask | None = None
) -> UserTask:
    """Complete a task once. Raises:

    - NotFound `task_not_found`; PermissionDenied `task_not_yours`;
    - ApplicationError `form_invalid` with `errors` per field (nothing is changed);
    - Conflict `task_not_open` when it was already completed (a double submit) or cancelled;
    - ApplicationError `engine_error` when the model fails at a later step (the task stays open and
      the case is marked as stopped on that element, with the last good state kept).

    `loaded`: the same task as the caller already read it (user_task_get_for_user), to save a second
    read; its status and claim are checked again under the case's row lock either way.
    """
    task = (
        loaded
        if loaded is not None and loaded.pk == task_id
        else UserTask.objects.select_related("instance__version", "instance__pupil")
        .defer("instance__state", "instance__version__spec")  # the engine half loads them under the lock
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound("task_not_found", _("The task does not exist."))
    if not user_task_may_complete(user, task):
        raise PermissionDenied("task_not_yours", _("You may not complete this task."))
    schema = user_task_form_schema(task)
    payload = dict(data)
    if schema is not None:
        payload = form_read_only_enforced(schema, payload, task.prefill)
        errors = form_data_errors(schema, payload)
        if errors:
            raise ApplicationError("form_invalid", _("The form has errors."), status=422, errors=errors)
    return user_task_complete_validated(task, user, payload)


def user_task_complete_validated(task: UserTask, user: Any, payload: dict[str, Any]) -> UserTask:
    """The engine half of a completion, for data already validated (or supplied by a retry)."""
    try:
        with transaction.atomic():
            # The row lock serialises submits: a second one waits here, then finds the task done.
            instance = instance_lock(task.instance_id)
            now = timezone.now()
            claimed = UserTask.objects.filter(pk=task.pk, status=UserTask.Status.OPEN).update(
                status=UserTask.Status.COMPLETED, completed_by=user, completed_at=now, data=payload
            )
            # The task first: a double submit of a case's last step finds the case completed too, and
            # must still hear task_not_open. Raising rolls the UPDATE above back.
            if not claimed:
                raise Conflict("task_not_open", _("The task has already been completed or cancelled."))
            if instance.status != ProcessInstance.Status.RUNNING:
                raise Conflict("instance_not_running", _("The case is not running."))
            workflow = instance_workflow(instance)
            workflow.complete_user_task(task.engine_task_id, payload)
            completed = {
                "verb": Verb.TASK_COMPLETED,
                "actor": user,
                "unit_id": task.unit_id,
                "instance_id": instance.pk,
                "user_task_id": task.pk,
                "element_id": task.element_id,
                "element_name": task.name,
                "lane": task.lane,
                "after": payload,
                "occurred_at": now,
            }
            instance_persist(instance, workflow, actor=user, now=now, events=[completed])
    except EngineError as exc:
        instance_error_record(
            task.instance,
            exc,
            user,
            {
                "operation": "complete",
                "user_task_id": task.pk,
                "data": payload,
                "user_id": getattr(user, "pk", None),
            },
        )
        raise engine_error_to_application(exc) from exc
    task.status, task.completed_by, task.completed_at, task.data = (
        UserTask.Status.COMPLETED,
        user,
        now,
        payload,
    )
    return task
