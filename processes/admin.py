"""Process owners see versions and cases; a case stopped on an engine error shows where and why,
and can be retried once the cause is fixed."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from common.errors import ApplicationError
from processes.models import ProcessDefinition, ProcessInstance, ProcessVersion
from processes.services.recovery import process_instance_retry


@admin.register(ProcessDefinition)
class ProcessDefinitionAdmin(admin.ModelAdmin):
    list_display = ["key", "name_sv", "owner"]


@admin.register(ProcessVersion)
class ProcessVersionAdmin(admin.ModelAdmin):
    list_display = ["definition", "number", "status", "author", "created_at", "short_hash"]
    list_filter = ["status", "definition"]
    fields = [
        "definition",
        "number",
        "status",
        "content_hash",
        "author",
        "changelog",
        "created_at",
        "published_at",
        "retired_at",
        "default_task_due",
    ]
    readonly_fields = fields  # versions are immutable; publish and retire go through the services

    @admin.display(description=_("content hash"))
    def short_hash(self, version: ProcessVersion) -> str:
        return version.content_hash[:12]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProcessInstance)
class ProcessInstanceAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "unit", "status", "started_at", "error_element_id", "error_message"]
    list_filter = ["status", "version__definition", "unit"]
    search_fields = ["id", "subject", "error_element_id"]
    fields = [
        "version",
        "unit",
        "subject",
        "status",
        "revision",
        "started_at",
        "completed_at",
        "end_events",
        "error_code",
        "error_element_id",
        "error_message",
        "error_expression",
        "error_context",
    ]
    readonly_fields = fields
    actions = ["retry"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Retry the selected cases that stopped on an error"))
    def retry(self, request, queryset) -> None:
        retried = failed = 0
        for instance in queryset.filter(status=ProcessInstance.Status.ERROR):
            try:
                process_instance_retry(instance, actor=request.user)
                retried += 1
            except ApplicationError as exc:
                failed += 1
                self.message_user(request, f"{instance.pk}: {exc.message}", messages.ERROR)
        self.message_user(
            request,
            _("%(ok)s case(s) retried, %(failed)s still stopped.") % {"ok": retried, "failed": failed},
        )
