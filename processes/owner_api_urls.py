from django.urls import path

from processes import owner_apis

app_name = "processes-owner-api"
urlpatterns = [
    path("<slug:key>/pilots/", owner_apis.PilotListApi.as_view(), name="pilots"),
    path("pilots/<int:pilot_id>/end/", owner_apis.PilotEndApi.as_view(), name="pilot-end"),
    path("<slug:key>/diff/", owner_apis.DiffApi.as_view(), name="diff"),
    path("<slug:key>/migrations/plan/", owner_apis.MigrationPlanApi.as_view(), name="migration-plan"),
    path("<slug:key>/migrations/", owner_apis.MigrationJobApi.as_view(), name="migration-job"),
    path(
        "migrations/jobs/<int:job_id>/",
        owner_apis.MigrationJobDetailApi.as_view(),
        name="migration-job-detail",
    ),
    path("migrations/<int:migration_id>/undo/", owner_apis.MigrationUndoApi.as_view(), name="migration-undo"),
]
