"""Who works on a task: claim, release, delegate to a colleague, reassign (by the principal).

Every change is a compare-and-set UPDATE (only one of two simultaneous claims wins) and is audited in
the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import ApplicationError, Conflict, PermissionDenied
from organisation.models import Role
from organisation.selectors import user_has_role_at_unit
from tasks.models import UserTask


def user_task_holds_lane(user: Any, task: UserTask) -> bool:
    """Holds the task's role at the task's unit (staff lanes only)."""
    return task.lane not in (Role.GUARDIAN, Role.PUPIL) and user_has_role_at_unit(
        user, task.lane, task.unit_id
    )


def _audit(verb: Verb, task: UserTask, actor: Any, before: Any, after: Any) -> None:
    audit_event_record(
        verb,
        actor=actor,
        unit_id=task.unit_id,
        instance_id=task.instance_id,
        user_task_id=task.pk,
        element_id=task.element_id,
        element_name=task.name,
        lane=task.lane,
        before=before,
        after=after,
    )


def _set_claimer(task: UserTask, *, expected: int | None, new: Any, verb: Verb, actor: Any) -> UserTask:
    with transaction.atomic():
        updated = UserTask.objects.filter(
            pk=task.pk, status=UserTask.Status.OPEN, claimed_by_id=expected
        ).update(claimed_by=new, claimed_at=timezone.now() if new is not None else None)
        if not updated:
            task.refresh_from_db()
            if task.status != UserTask.Status.OPEN:
                raise Conflict("task_not_open", _("The task has already been completed or cancelled."))
            raise Conflict("task_claimed_meanwhile", _("Someone else changed who works on the task. Reload."))
        _audit(verb, task, actor, {"claimed_by": expected}, {"claimed_by": getattr(new, "pk", None)})
    task.refresh_from_db()
    return task


def user_task_claim(task: UserTask, *, user: Any) -> UserTask:
    """Take an unclaimed task.

    Raises PermissionDenied `task_not_your_lane` and Conflict `task_already_claimed`.
    """
    if not user_task_holds_lane(user, task):
        raise PermissionDenied(
            "task_not_your_lane", _("You do not hold this role at the task's school unit.")
        )
    if task.claimed_by_id is not None:
        raise Conflict("task_already_claimed", _("The task is already claimed."))
    return _set_claimer(task, expected=None, new=user, verb=Verb.TASK_CLAIMED, actor=user)


def user_task_unclaim(task: UserTask, *, user: Any) -> UserTask:
    """Give a claimed task back to the team. Only the claimer (or the unit's principal) may."""
    if task.claimed_by_id is None:
        raise Conflict("task_not_claimed", _("The task is not claimed."))
    if task.claimed_by_id != user.pk and not user_has_role_at_unit(user, Role.PRINCIPAL, task.unit_id):
        raise PermissionDenied("task_not_yours", _("Only the person working on the task can release it."))
    return _set_claimer(task, expected=task.claimed_by_id, new=None, verb=Verb.TASK_UNCLAIMED, actor=user)


def user_task_delegate(task: UserTask, *, user: Any, to_user: Any) -> UserTask:
    """Hand my task to a colleague holding the same role at the same unit."""
    if task.claimed_by_id not in (None, user.pk) or not user_task_holds_lane(user, task):
        raise PermissionDenied("task_not_yours", _("You can only delegate a task you may work on."))
    if not user_task_holds_lane(to_user, task):
        raise ApplicationError(
            "delegate_not_in_lane",
            _("%(name)s does not hold this role at the school unit.")
            % {"name": to_user.get_full_name() or to_user.username},
        )
    return _set_claimer(task, expected=task.claimed_by_id, new=to_user, verb=Verb.TASK_DELEGATED, actor=user)


def user_task_reassign(task: UserTask, *, principal: Any, to_user: Any | None) -> UserTask:
    """The unit's principal moves a task to someone else in the lane, or back to the team (None)."""
    if not user_has_role_at_unit(principal, Role.PRINCIPAL, task.unit_id):
        raise PermissionDenied(
            "not_principal_of_unit", _("Only the principal of the school unit can reassign.")
        )
    if to_user is not None and not user_task_holds_lane(to_user, task):
        raise ApplicationError(
            "delegate_not_in_lane",
            _("%(name)s does not hold this role at the school unit.")
            % {"name": to_user.get_full_name() or to_user.username},
        )
    return _set_claimer(
        task, expected=task.claimed_by_id, new=to_user, verb=Verb.TASK_REASSIGNED, actor=principal
    )


def user_task_draft_save(task: UserTask, *, user: Any, data: dict[str, Any]) -> UserTask:
    """Keep unfinished form input. Not validated (it is unfinished); completing validates."""
    from tasks.services.user_tasks import user_task_may_complete

    if not user_task_may_complete(user, task):
        raise PermissionDenied("task_not_yours", _("You may not work on this task."))
    updated = UserTask.objects.filter(pk=task.pk, status=UserTask.Status.OPEN).update(
        draft=data, draft_saved_at=timezone.now()
    )
    if not updated:
        raise Conflict("task_not_open", _("The task has already been completed or cancelled."))
    task.refresh_from_db()
    return task
