from django.contrib import admin

from accounts.models import DataSubjectRequest, LoginEvent, OidcIdentity


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: read in the admin, never written there."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LoginEvent)
class LoginEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "user", "ip", "method", "success", "reason"]
    list_filter = ["success", "method", "reason"]
    search_fields = ["username", "ip"]
    date_hierarchy = "at"


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "outcome", "pupil_id_ref", "actor"]
    list_filter = ["kind", "outcome"]


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    """An administrator may unlink a subject (someone left) or link one whose e-mail was ambiguous."""

    list_display = ["subject", "user", "linked_at"]
    search_fields = ["subject", "user__username", "user__email"]
    raw_id_fields = ["user"]
