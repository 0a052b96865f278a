"""User tasks: the projection of the engine's READY manual tasks, assigned by lane × school unit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from common.fields import OrderedJSONField


class UserTask(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    instance = models.ForeignKey(
        "processes.ProcessInstance", on_delete=models.CASCADE, related_name="user_tasks"
    )
    engine_task_id = models.CharField(max_length=36)
    element_id = models.CharField(_("step"), max_length=255)
    name = models.CharField(_("name"), max_length=255)
    lane = models.CharField(_("role"), max_length=32)
    unit = models.ForeignKey("organisation.SchoolUnit", on_delete=models.PROTECT, related_name="user_tasks")
    form_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    ready_at = models.DateTimeField(_("ready"))
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # What the case already knew for this form when the task became ready (prefilled, read-only fields).
    prefill = OrderedJSONField(default=dict, blank=True)
    # Work in progress a person saved without completing; validated only when completed.
    draft = OrderedJSONField(default=dict, blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    # For guardian tasks of a multi-instance step (one per guardian with custody): whose task this is.
    guardian = models.ForeignKey(
        "organisation.Guardian", null=True, blank=True, on_delete=models.SET_NULL, related_name="user_tasks"
    )

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [
            models.UniqueConstraint(fields=["instance", "engine_task_id"], name="usertask_unique_engine_task")
        ]
        indexes = [
            models.Index(fields=["unit", "lane", "status"], name="usertask_queue"),
            models.Index(fields=["status", "due_at"], name="usertask_due"),
            models.Index(fields=["claimed_by", "status"], name="usertask_claimed"),
            models.Index(fields=["completed_by", "completed_at"], name="usertask_done_by"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.lane})"


class Notification(models.Model):
    """An in-app notification, possibly also e-mailed. `dedup_key` makes sending idempotent: a
    reminder or escalation is created once per task and kind, however often beat runs."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", _("Reminder")
        ESCALATION = "escalation", _("Escalation")
        ASSIGNED = "assigned", _("Assigned to you")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    user_task = models.ForeignKey(
        UserTask, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    dedup_key = models.CharField(max_length=200, unique=True)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("message"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.title
