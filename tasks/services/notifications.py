"""Reminders before a task's due date, escalation to the principal after it, and their e-mails.

Beat runs the three passes (tasks/jobs.py). Every pass is idempotent: a notification exists once per
`dedup_key` (a unique column), and an e-mail is sent only by the worker whose compare-and-set UPDATE of
`emailed_at` wins, so a restarted or duplicated worker never sends it twice.

Stored and e-mailed text never holds a pupil's personnummer or full name: it is read outside any
permission check (in a mailbox, on a lock screen), so it carries at most the masked name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import NotFound
from organisation.models import Role
from organisation.policy import name_for_viewer
from organisation.selectors import users_with_role_at_unit
from processes.engine import get_default_calendar
from tasks.models import Notification, UserTask

logger = logging.getLogger(__name__)


def _task_url(task_id: int) -> str:
    # E-mails link to the task page (which checks permissions) instead of carrying case details.
    return settings.SITE_URL.rstrip("/") + reverse("tasks:detail", args=[task_id])


def _local_text(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _reminder_cutoff(now: datetime, lead: int) -> datetime:
    """Start of the (lead + 1)-th working day after today: a task due before it is due within `lead`
    working days (BusinessCalendar.working_days_between(now, due_at) <= lead)."""
    today = timezone.localtime(now).date()
    day = get_default_calendar().add_working_days(today, lead + 1)
    return timezone.make_aware(datetime.combine(day, time.min))


def _open_tasks(**filters: Any) -> QuerySet[UserTask]:
    return (
        UserTask.objects.filter(status=UserTask.Status.OPEN, **filters)
        .select_related("instance__version__definition", "instance__pupil", "unit", "guardian")
        .order_by("due_at", "pk")
    )


def _reminder_recipients(task: UserTask) -> list[Any]:
    """Who can act on the task: the claimer, else everyone in its lane (for guardian tasks the bound
    guardian, else the pupil's guardians; for pupil tasks the pupil)."""
    users = get_user_model().objects.filter(is_active=True)
    if task.claimed_by_id is not None:
        claimer = list(users.filter(pk=task.claimed_by_id))
        if claimer:
            return claimer
    pupil_id = task.instance.pupil_id
    if task.lane == Role.GUARDIAN:
        if task.guardian_id is not None:
            return list(users.filter(guardian__pk=task.guardian_id))
        return list(users.filter(guardian__custodies__pupil_id=pupil_id).distinct()) if pupil_id else []
    if task.lane == Role.PUPIL:
        return list(users.filter(pupil__pk=pupil_id)) if pupil_id else []
    return list(users_with_role_at_unit(task.lane, task.unit_id).distinct())


def _escalation_recipients(task: UserTask) -> list[Any]:
    return list(users_with_role_at_unit(Role.PRINCIPAL, task.unit_id).distinct())


def _masked_pupil_name(task: UserTask) -> str:
    # The policy's form for a viewer without rights (initials), whoever the recipient is.
    pupil = task.instance.pupil
    return name_for_viewer(AnonymousUser(), pupil) if pupil is not None else "–"


def _notification_text(kind: str, task: UserTask) -> tuple[str, str]:
    due = _local_text(task.due_at) if task.due_at else "–"
    with translation.override(settings.LANGUAGE_CODE):
        if kind == Notification.Kind.REMINDER:
            title = _("Reminder: “%(task)s” is due %(due)s") % {"task": task.name, "due": due}
        else:
            title = _("Overdue: “%(task)s” was due %(due)s") % {"task": task.name, "due": due}
        body = _("Case: %(process)s · Pupil: %(pupil)s · School unit: %(unit)s · Role: %(role)s") % {
            "process": task.instance.version.definition.name_sv,
            "pupil": _masked_pupil_name(task),
            "unit": task.unit.name,
            "role": Role(task.lane).label if task.lane in Role.values else task.lane,
        }
    return title[:200], body


def _task_notify(
    task: UserTask, kind: str, recipients: Callable[[UserTask], list[Any]], verb: Verb, now: datetime
) -> int:
    """Create the missing notifications of one kind for one task and audit them, in one transaction.

    The task row is locked (SKIP LOCKED: a task being completed right now waits for the next pass), so
    two passes never both count and audit the same notifications; the unique `dedup_key` backs that up.
    """
    with transaction.atomic():
        locked = (
            UserTask.objects.select_for_update(skip_locked=True)
            .filter(pk=task.pk, status=UserTask.Status.OPEN)
            .values("claimed_by_id")
            .first()
        )
        if locked is None:
            return 0
        task.claimed_by_id = locked["claimed_by_id"]
        by_key = {f"{kind}:{task.pk}:{user.pk}": user for user in recipients(task)}
        existing = set(Notification.objects.filter(dedup_key__in=by_key).values_list("dedup_key", flat=True))
        missing = {key: user for key, user in by_key.items() if key not in existing}
        if not missing:
            return 0
        title, body = _notification_text(kind, task)
        Notification.objects.bulk_create(
            [
                Notification(user=user, user_task=task, kind=kind, dedup_key=key, title=title, body=body)
                for key, user in missing.items()
            ],
            ignore_conflicts=True,
        )
        audit_event_record(
            verb,
            unit_id=task.unit_id,
            instance_id=task.instance_id,
            user_task_id=task.pk,
            element_id=task.element_id,
            element_name=task.name,
            lane=task.lane,
            after={
                "recipients": sorted(user.pk for user in missing.values()),
                "due_at": task.due_at.isoformat(),
            },
            occurred_at=now,
        )
    return len(missing)


def task_reminders_send(now: datetime | None = None) -> int:
    """Remind the people who can act on every open task due within `REMINDER_LEAD_WORKING_DAYS`
    working days (by the business calendar) and not yet overdue.

    Each recipient gets one reminder per task, however often this runs (`reminder:<task>:<user>`);
    one `task.reminded` audit event per task reminded, in the same transaction. Returns how many
    notifications were created.
    """
    now = now or timezone.now()
    lead = int(getattr(settings, "REMINDER_LEAD_WORKING_DAYS", 2))
    already = Notification.objects.filter(user_task=OuterRef("pk"), kind=Notification.Kind.REMINDER)
    tasks = _open_tasks(due_at__gt=now, due_at__lt=_reminder_cutoff(now, lead)).exclude(Exists(already))
    return sum(
        _task_notify(task, Notification.Kind.REMINDER, _reminder_recipients, Verb.TASK_REMINDED, now)
        for task in tasks
    )


def task_escalations_send(now: datetime | None = None) -> int:
    """Tell every principal at the task's school unit about each open task past its due date.

    Once per principal and task (`escalation:<task>:<user>`); one `task.escalated` audit event per
    task, in the same transaction. Returns how many notifications were created.
    """
    now = now or timezone.now()
    already = Notification.objects.filter(user_task=OuterRef("pk"), kind=Notification.Kind.ESCALATION)
    tasks = _open_tasks(due_at__lte=now).exclude(Exists(already))
    return sum(
        _task_notify(task, Notification.Kind.ESCALATION, _escalation_recipients, Verb.TASK_ESCALATED, now)
        for task in tasks
    )


def _notification_email(notification: Notification, connection: Any) -> mail.EmailMessage:
    task = notification.user_task
    notifications_url = settings.SITE_URL.rstrip("/") + reverse("notifications:list")
    context = {
        "notification": notification,
        "task_name": task.name if task is not None else "",
        "due": _local_text(task.due_at) if task is not None and task.due_at else "",
        "url": _task_url(task.pk) if task is not None else notifications_url,
        "notifications_url": notifications_url,
    }
    template = select_template([f"email/notification_{notification.kind}.txt", "email/notification.txt"])
    return mail.EmailMessage(
        subject=f"Skolflöde: {notification.title}",
        body=template.render(context),
        to=[notification.user.email],
        connection=connection,
    )


def _notification_email_deliver(notification: Notification, claimed_at: datetime, connection: Any) -> None:
    try:
        _notification_email(notification, connection).send()
    except Exception:
        # Give the claim back (only ours: compare on the claim time) so the next pass retries.
        logger.exception("E-mail for notification %s failed; it will be retried", notification.pk)
        Notification.objects.filter(pk=notification.pk, emailed_at=claimed_at).update(emailed_at=None)


def notification_emails_send(limit: int = 200) -> int:
    """E-mail up to `limit` notifications not yet e-mailed, to users with an e-mail address.

    Each one is claimed first with a compare-and-set UPDATE of `emailed_at`; only the worker that
    wins sends it, after the claim is committed. A failed send clears the claim again, so the next pass
    retries it. A worker killed between claim and send loses that one e-mail (the in-app notification
    stays): at most once, never twice. Returns how many were claimed for sending.
    """
    pending = list(
        Notification.objects.filter(emailed_at__isnull=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "user_task")
        .order_by("pk")[:limit]
    )
    claimed = 0
    connection = mail.get_connection()
    for notification in pending:
        claimed_at = timezone.now()
        won = Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
            emailed_at=claimed_at
        )
        if not won:
            continue
        claimed += 1
        transaction.on_commit(partial(_notification_email_deliver, notification, claimed_at, connection))
    return claimed


def notification_mark_read(user: Any, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (again: no change). Raises NotFound
    `notification_not_found` for a notification that is not theirs."""
    mine = Notification.objects.filter(pk=notification_id, user_id=getattr(user, "pk", None))
    mine.filter(read_at__isnull=True).update(read_at=timezone.now())
    notification = mine.first()
    if notification is None:
        raise NotFound("notification_not_found", _("The notification does not exist."))
    return notification


def notification_mark_all_read(user: Any) -> int:
    """Mark all the user's unread notifications read; returns how many."""
    return Notification.objects.filter(user_id=getattr(user, "pk", None), read_at__isnull=True).update(
        read_at=timezone.now()
    )


__all__ = [
    "notification_emails_send",
    "notification_mark_all_read",
    "notification_mark_read",
    "task_escalations_send",
    "task_reminders_send",
]
