from django.contrib import admin

from organisation.models import Custody, Guardian, Membership, Municipality, Pupil, SchoolUnit


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]


@admin.register(SchoolUnit)
class SchoolUnitAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "municipality"]
    list_filter = ["kind"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "unit"]
    list_filter = ["role", "unit"]


class CustodyInline(admin.TabularInline):
    model = Custody
    extra = 0


@admin.register(Pupil)
class PupilAdmin(admin.ModelAdmin):
    list_display = ["full_name", "masked_personnummer", "unit", "grade"]
    list_filter = ["unit"]
    inlines = [CustodyInline]


@admin.register(Guardian)
class GuardianAdmin(admin.ModelAdmin):
    list_display = ["full_name", "masked_personnummer", "email"]
