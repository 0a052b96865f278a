"""The append-only event table: every state change, who made it and when, hash-chained."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Verb(models.TextChoices):
    VERSION_DEPLOYED = "version.deployed", _("Version deployed")
    VERSION_PUBLISHED = "version.published", _("Version published")
    VERSION_RETIRED = "version.retired", _("Version retired")
    VERSION_PILOTED = "version.piloted", _("Version piloted")
    INSTANCE_STARTED = "instance.started", _("Case started")
    INSTANCE_COMPLETED = "instance.completed", _("Case completed")
    INSTANCE_ERRORED = "instance.errored", _("Case stopped on an error")
    INSTANCE_RETRIED = "instance.retried", _("Case retried")
    INSTANCE_CANCELLED = "instance.cancelled", _("Case cancelled")
    INSTANCE_MIGRATED = "instance.migrated", _("Case moved to another version")
    TASK_READY = "task.ready", _("Task ready")
    TASK_COMPLETED = "task.completed", _("Task completed")
    TASK_CANCELLED = "task.cancelled", _("Task cancelled")
    TASK_CLAIMED = "task.claimed", _("Task claimed")
    TASK_UNCLAIMED = "task.unclaimed", _("Task released")
    TASK_DELEGATED = "task.delegated", _("Task delegated")
    TASK_REASSIGNED = "task.reassigned", _("Task reassigned")
    TASK_REMINDED = "task.reminded", _("Reminder sent")
    TASK_ESCALATED = "task.escalated", _("Task escalated")
    BULK_START_REQUESTED = "bulk_start.requested", _("Bulk start requested")
    RECORD_READ = "record.read", _("Sensitive record read")
    TIMER_FIRED = "timer.fired", _("Timer fired")
    MESSAGE_RECEIVED = "message.received", _("Message received")
    EVENTS_EXPORTED = "events.exported", _("Event log exported")
    RETENTION_APPLIED = "retention.applied", _("Personal data removed after the retention period")


class AuditEvent(models.Model):
    """Never updated or deleted by the application (audit.services is the only writer)."""

    occurred_at = models.DateTimeField(_("time"), db_index=True)
    verb = models.CharField(_("event"), max_length=40, choices=Verb.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    unit = models.ForeignKey(
        "organisation.SchoolUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    instance_id = models.UUIDField(_("case"), null=True, blank=True, db_index=True)
    user_task_id = models.BigIntegerField(_("task"), null=True, blank=True)
    version_id = models.BigIntegerField(_("version"), null=True, blank=True)
    element_id = models.CharField(_("element"), max_length=255, blank=True)
    element_name = models.CharField(_("element name"), max_length=255, blank=True)
    lane = models.CharField(_("lane"), max_length=32, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    # The chain hashes `payload_digest` = SHA-256(salt + before/after), not before/after themselves,
    # so that retention can remove personal values without breaking the chain (docs/audit.md).
    payload_salt = models.CharField(max_length=32, blank=True)
    payload_digest = models.CharField(max_length=64, blank=True)
    # The retention.applied event that removed this event's personal values; it lists this event.
    redacted_by = models.BigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["id"]
        indexes = [models.Index(fields=["verb", "occurred_at"], name="audit_verb_time")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.verb} {self.element_id}"


class RetentionRule(models.Model):
    """How long a closed case of a process keeps its personal data (gallring), and what happens then.

    Without a rule, the process manifest's `retention_days` applies (with `pseudonymise`); without
    either, nothing is removed.
    """

    class Action(models.TextChoices):
        PSEUDONYMISE = "pseudonymise", _("Pseudonymise (keep the shape of the form data)")
        PURGE = "purge", _("Purge (remove the form data)")

    process_key = models.SlugField(_("process"), max_length=64, unique=True)
    keep_for_days = models.PositiveIntegerField(_("keep for (days after the case closed)"))
    action = models.CharField(_("action"), max_length=16, choices=Action.choices, default=Action.PSEUDONYMISE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("retention rule")
        verbose_name_plural = _("retention rules")
        ordering = ["process_key"]

    def __str__(self) -> str:
        return f"{self.process_key}: {self.keep_for_days} d ({self.get_action_display()})"
