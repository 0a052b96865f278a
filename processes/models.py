"""Process definitions, immutable versions, running instances and what they wait for."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from common.fields import OrderedJSONField


class ProcessDefinition(models.Model):
    key = models.SlugField(_("key"), max_length=64, unique=True)
    name_sv = models.CharField(_("Swedish name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("process")
        verbose_name_plural = _("processes")
        ordering = ["key"]
        # Process owners hold this permission (directly or through a group): only they may model,
        # publish, pilot and migrate processes.
        permissions = [("manage_process", _("Can model, publish, pilot and migrate processes"))]

    def __str__(self) -> str:
        return self.name_sv


class ProcessVersion(models.Model):
    """An immutable bundle of BPMN, forms and manifest. Nothing but its status ever changes."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    ALLOWED_TRANSITIONS = {
        Status.DRAFT: {Status.PUBLISHED},
        Status.PUBLISHED: {Status.RETIRED},
        Status.RETIRED: set(),
    }

    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    main_process_id = models.CharField(max_length=255)
    files = OrderedJSONField(help_text="BPMN documents by file name, as text")
    forms = OrderedJSONField(default=dict, help_text="JSON Schema forms by file name, fields in order")
    manifest = models.JSONField(default=dict)
    spec = models.TextField(help_text="The parsed spec, serialized once per version")
    default_task_due = models.CharField(max_length=32, default="P5D")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changelog = models.TextField(_("changelog"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("process version")
        verbose_name_plural = _("process versions")
        ordering = ["definition", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "number"], name="version_unique_number"),
            models.UniqueConstraint(fields=["definition", "content_hash"], name="version_unique_content"),
        ]

    def __str__(self) -> str:
        return f"{self.definition.key} v{self.number}"


class ProcessInstance(models.Model):
    """One case. Pinned to its version; its engine state is one JSON document without the spec."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        ERROR = "error", _("Error")
        CANCELLED = "cancelled", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="instances")
    unit = models.ForeignKey("organisation.SchoolUnit", on_delete=models.PROTECT, related_name="instances")
    pupil = models.ForeignKey(
        "organisation.Pupil", null=True, blank=True, on_delete=models.PROTECT, related_name="instances"
    )
    subject = models.CharField(_("case reference"), max_length=200, blank=True)
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    state = OrderedJSONField(default=dict)
    state_version = models.CharField(max_length=64, blank=True)
    revision = models.PositiveIntegerField(default=0)
    end_events = models.JSONField(default=list, blank=True)
    # Hash of the waiting timers and message subscriptions last projected: unchanged → not rewritten.
    wait_signature = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_element_id = models.CharField(max_length=255, blank=True)
    error_expression = models.TextField(blank=True)
    # What was being done when the error struck (a completion with its data, or a timer pass), so a
    # retry repeats exactly that and the submitted data is never lost.
    error_context = models.JSONField(default=dict, blank=True)
    bulk_start = models.ForeignKey(
        "processes.BulkStart", null=True, blank=True, on_delete=models.SET_NULL, related_name="instances"
    )
    started_at = models.DateTimeField(_("started"))
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        indexes = [
            models.Index(fields=["version", "status"], name="instance_version_status"),
            models.Index(fields=["unit", "status"], name="instance_unit_status"),
        ]
        constraints = [
            # A resumed bulk start can never start a second case for the same pupil.
            models.UniqueConstraint(
                fields=["bulk_start", "pupil"],
                condition=models.Q(bulk_start__isnull=False),
                name="instance_one_per_pupil_per_bulk_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.subject or self.pk}"


class WaitingTimer(models.Model):
    """A timer the instance waits for; beat picks due rows with SKIP LOCKED (never scans instances)."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="timers")
    engine_task_id = models.CharField(max_length=36)
    element_id = models.CharField(max_length=255)
    element_name = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=16)
    due_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance", "engine_task_id"], name="timer_unique_task")
        ]

    def __str__(self) -> str:
        return f"{self.element_id} @ {self.due_at:%Y-%m-%d %H:%M}"


class MessageSubscription(models.Model):
    """A message catch event an instance waits on, by name and correlation key."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="subscriptions")
    message_name = models.CharField(max_length=255)
    correlation_key = models.CharField(max_length=512, blank=True)

    class Meta:
        indexes = [models.Index(fields=["message_name", "correlation_key"], name="subscription_lookup")]

    def __str__(self) -> str:
        return f"{self.message_name} [{self.correlation_key}]"


class ReceivedMessage(models.Model):
    """Every message from outside, once: a redelivered message id is answered, never applied twice."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        UNKNOWN = "unknown", _("No waiting case")

    message_id = models.CharField(max_length=128, unique=True)
    message_name = models.CharField(max_length=255)
    correlation_key = models.CharField(max_length=512, blank=True)
    payload = models.JSONField(default=dict)
    instance = models.ForeignKey(
        ProcessInstance, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.message_id


class BulkStart(models.Model):
    """Starting one case per pupil of a unit (or of every unit): a resumable job with visible progress."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="bulk_starts")
    unit = models.ForeignKey(
        "organisation.SchoolUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: every unit of the municipality",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    started_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("bulk start")
        verbose_name_plural = _("bulk starts")

    def __str__(self) -> str:
        return f"{self.version} → {self.unit or 'all units'} ({self.started_count}/{self.total})"


class ProcessDraft(models.Model):
    """One saved revision of a process being modelled. Unlike a version it may have problems (listed in
    `problems`, each naming its element); publishing deploys it as a version, which refuses problems."""

    key = models.SlugField(_("key"), max_length=64)
    definition = models.ForeignKey(
        ProcessDefinition, null=True, blank=True, on_delete=models.CASCADE, related_name="drafts"
    )
    revision = models.PositiveIntegerField(_("revision"))
    based_on = models.ForeignKey(
        ProcessVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="drafts"
    )
    manifest = models.JSONField(default=dict)
    files = OrderedJSONField(help_text="BPMN documents by file name, as text")
    forms = OrderedJSONField(default=dict, help_text="JSON Schema forms by file name, fields in order")
    model = models.JSONField(null=True, blank=True, help_text="Structural model, for diffs and rendering")
    problems = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changelog = models.CharField(_("changelog"), max_length=300, blank=True)
    saved_at = models.DateTimeField(_("saved"), auto_now_add=True)
    published_version = models.ForeignKey(
        ProcessVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("process draft")
        verbose_name_plural = _("process drafts")
        ordering = ["key", "-revision"]
        constraints = [models.UniqueConstraint(fields=["key", "revision"], name="draft_unique_revision")]

    def __str__(self) -> str:
        return f"{self.key} draft {self.revision}"


class Pilot(models.Model):
    """A published version run at chosen school units (from `starts_on`, up to and including `ends_on`)
    instead of the baseline: new cases there start on it; everyone else keeps the current version."""

    version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="pilots")
    unit = models.ForeignKey("organisation.SchoolUnit", on_delete=models.PROTECT, related_name="+")
    starts_on = models.DateField(_("starts"))
    ends_on = models.DateField(_("ends"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pilot")
        verbose_name_plural = _("pilots")
        ordering = ["-starts_on", "pk"]
        indexes = [models.Index(fields=["unit", "starts_on"], name="pilot_unit_start")]

    def __str__(self) -> str:
        return f"{self.version} @ {self.unit_id} {self.starts_on}–{self.ends_on or ''}"


class MigrationJob(models.Model):
    """Moving every safe running case of one version to another: a background job with progress."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")

    from_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    migrated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=dict, blank=True, help_text="instance id → why it stayed")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("migration job")
        verbose_name_plural = _("migration jobs")

    def __str__(self) -> str:
        return f"{self.from_version} → {self.to_version} ({self.migrated_count}/{self.total})"


class InstanceMigration(models.Model):
    """One case moved between versions, with what it was before: undo restores it if the case has not
    moved since (its revision is still `new_revision`)."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="migrations")
    from_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    previous_state = OrderedJSONField(default=dict)
    previous_revision = models.PositiveIntegerField()
    new_revision = models.PositiveIntegerField()
    job = models.ForeignKey(
        MigrationJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="migrations"
    )
    migrated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    migrated_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("case migration")
        verbose_name_plural = _("case migrations")
        ordering = ["-migrated_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.from_version} → {self.to_version}"
