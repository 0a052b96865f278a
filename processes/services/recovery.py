"""Getting a case that stopped on an engine error going again, once its cause is fixed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import Conflict
from processes.engine import EngineError
from processes.models import ProcessInstance
from processes.services.instances import (
    engine_error_to_application,
    instance_error_record,
    instance_lock,
    instance_persist,
    instance_workflow,
)
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_complete_validated


def process_instance_retry(
    instance: ProcessInstance, *, actor: Any = None, data_patch: Mapping[str, Any] | None = None
) -> ProcessInstance:
    """Repeat what failed: the same completion with the data the person submitted (plus `data_patch`,
    the process owner's fix, e.g. a value the model expected), or the timer pass.

    Raises Conflict `instance_not_in_error`, and ApplicationError `engine_error` if it fails again
    (the case then stays in error with the new cause).
    """
    with transaction.atomic():
        locked = instance_lock(instance.pk)
        if locked.status != ProcessInstance.Status.ERROR:
            raise Conflict("instance_not_in_error", _("Only a case that stopped on an error can be retried."))
        context = dict(locked.error_context or {})
        audit_event_record(
            Verb.INSTANCE_RETRIED,
            actor=actor,
            unit_id=locked.unit_id,
            instance_id=locked.pk,
            element_id=locked.error_element_id,
            before={"error": locked.error_message},
            after={"data_patch": dict(data_patch or {})},
        )
        locked.status = ProcessInstance.Status.RUNNING
        locked.save(update_fields=["status", "updated_at"])
    if context.get("operation") == "complete":
        task = UserTask.objects.select_related("instance").get(pk=context["user_task_id"])
        user = get_user_model().objects.filter(pk=context.get("user_id")).first()
        user_task_complete_validated(task, user, {**context.get("data", {}), **dict(data_patch or {})})
    else:
        try:
            with transaction.atomic():
                locked = instance_lock(instance.pk)
                workflow = instance_workflow(locked)
                workflow.fire_due_timers()
                instance_persist(locked, workflow, actor=actor)
        except EngineError as exc:
            instance_error_record(instance, exc, actor, context)
            raise engine_error_to_application(exc) from exc
    instance.refresh_from_db()
    return instance
