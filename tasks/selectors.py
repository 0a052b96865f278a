"""Reads of user tasks: the inbox, one task for a viewer, and a case's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import NotFound
from organisation.models import Guardian, Membership, Pupil, Role
from processes.models import ProcessInstance
from tasks.models import UserTask

INBOX_TABS = ("mine", "team", "done")
PAGE_SIZE = 25


@dataclass(frozen=True)
class InboxFilters:
    tab: str = "mine"
    process: str = ""  # process key
    unit: int | None = None
    due_before: datetime | None = None
    overdue_only: bool = False


def _lanes_of(user: Any) -> Q | None:
    """(unit, lane) pairs the user may work in; None when the user holds no staff role."""
    pairs = Membership.objects.filter(user=user).values_list("unit_id", "role")
    query = None
    for unit_id, role in pairs:
        clause = Q(unit_id=unit_id, lane=role)
        query = clause if query is None else query | clause
    return query


def _mine(user: Any) -> Q:
    """My own tasks: claimed by me; for a guardian, the tasks bound to them (or to any guardian of their
    children); for a pupil, their own steps. Written without joins so the count stays an index scan."""
    mine = Q(claimed_by=user)
    guardian_ids = list(Guardian.objects.filter(user=user).values_list("pk", flat=True))
    if guardian_ids:
        childrens_cases = ProcessInstance.objects.filter(
            pupil__custodies__guardian_id__in=guardian_ids
        ).values("pk")
        mine |= Q(lane=Role.GUARDIAN) & (
            Q(guardian_id__in=guardian_ids) | Q(guardian__isnull=True, instance_id__in=childrens_cases)
        )
    pupil_cases = ProcessInstance.objects.filter(pupil__user=user).values("pk")
    if Pupil.objects.filter(user=user).exists():
        mine |= Q(lane=Role.PUPIL, instance_id__in=pupil_cases)
    return mine


def user_task_inbox_queryset(user: Any, filters: InboxFilters) -> QuerySet[UserTask]:
    """The tasks of one inbox tab, filtered; only tasks the user may work on or has done."""
    if not user.is_authenticated:
        return UserTask.objects.none()
    tasks = UserTask.objects.select_related(
        "instance__version__definition", "instance__pupil", "unit", "claimed_by"
    )
    if filters.tab == "done":
        tasks = tasks.filter(completed_by=user, status=UserTask.Status.COMPLETED).order_by(
            "-completed_at", "-pk"
        )
    else:
        tasks = tasks.filter(status=UserTask.Status.OPEN)
        if filters.tab == "team":
            lanes = _lanes_of(user)
            if lanes is None:
                return UserTask.objects.none()
            tasks = tasks.filter(lanes, claimed_by__isnull=True)
        else:
            tasks = tasks.filter(_mine(user))
        tasks = tasks.order_by("due_at", "pk")
    if filters.process:
        tasks = tasks.filter(instance__version__definition__key=filters.process)
    if filters.unit:
        tasks = tasks.filter(unit_id=filters.unit)
    if filters.due_before:
        tasks = tasks.filter(due_at__lt=filters.due_before)
    if filters.overdue_only:
        tasks = tasks.filter(status=UserTask.Status.OPEN, due_at__lt=timezone.now())
    return tasks


def user_task_inbox(user: Any, filters: InboxFilters, page: int = 1) -> Page:
    return Paginator(user_task_inbox_queryset(user, filters), PAGE_SIZE).get_page(page)


def user_task_inbox_counts(user: Any) -> dict[str, int]:
    return {tab: user_task_inbox_queryset(user, InboxFilters(tab=tab)).count() for tab in INBOX_TABS}


def user_task_visible_to(user: Any, task: UserTask) -> bool:
    """Who may open a task page: its lane at its unit, its claimer or completer, the unit's principal,
    and for guardian tasks the bound guardian (or the pupil's guardians)."""
    if not user.is_authenticated:
        return False
    if user.pk in (task.claimed_by_id, task.completed_by_id):
        return True
    if task.lane == Role.GUARDIAN:
        if task.guardian_id is not None:
            return task.guardian.user_id == user.pk
        pupil = task.instance.pupil
        return pupil is not None and pupil.custodies.filter(guardian__user=user).exists()
    if task.lane == Role.PUPIL:
        pupil = task.instance.pupil
        return pupil is not None and pupil.user_id == user.pk
    return Membership.objects.filter(
        user=user, unit_id=task.unit_id, role__in=[task.lane, Role.PRINCIPAL]
    ).exists()


def user_task_get_for_user(user: Any, task_id: int) -> UserTask:
    """The task if the user may see it; NotFound otherwise (the id's existence is not revealed)."""
    task = (
        UserTask.objects.select_related(
            "instance__version__definition",
            "instance__pupil",
            "unit",
            "claimed_by",
            "completed_by",
            "guardian",
        )
        # The case's engine state and the version's serialized spec are large and never shown here:
        # the engine half of a step loads them under the row lock.
        .defer("instance__state", "instance__version__spec")
        .filter(pk=task_id)
        .first()
    )
    if task is None or not user_task_visible_to(user, task):
        raise NotFound("task_not_found", _("The task does not exist or you may not see it."))
    return task


def case_history(task: UserTask) -> QuerySet[UserTask]:
    """The case's steps so far: who did what and when."""
    return (
        UserTask.objects.filter(instance_id=task.instance_id)
        .exclude(pk=task.pk)
        .select_related("completed_by", "claimed_by")
        .order_by("ready_at", "pk")
    )


def lane_colleagues(task: UserTask) -> QuerySet:
    """People who could take the task over: the lane at the task's unit."""
    from organisation.selectors import users_with_role_at_unit

    return users_with_role_at_unit(task.lane, task.unit_id).order_by("first_name", "last_name")
