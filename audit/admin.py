"""The audit trail, read-only, with a page that verifies the hash chain."""

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext as _

from audit.models import AuditEvent, RetentionRule
from audit.services import audit_chain_verify


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "occurred_at", "verb", "actor_label", "unit", "element_id", "lane", "redacted_by"]
    list_filter = ["verb", "unit"]
    search_fields = ["instance_id", "element_id", "actor_label"]
    change_list_template = "admin/audit/auditevent/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="audit_auditevent_verify"),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest) -> HttpResponseRedirect:
        broken = audit_chain_verify()
        if broken is None:
            self.message_user(request, _("The audit chain is intact."), messages.SUCCESS)
        else:
            self.message_user(
                request, _("The audit chain is broken at event %(id)s.") % {"id": broken}, messages.ERROR
            )
        return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin):
    list_display = ["process_key", "keep_for_days", "action", "updated_at"]
