from django.urls import path

from processes import owner_views, views

app_name = "processes"
urlpatterns = [
    path("start/", views.case_start, name="case_start"),
    path("bulk-starts/new/", views.bulk_start_new, name="bulk_start_new"),
    path("bulk-starts/<int:pk>/", views.bulk_start_detail, name="bulk_start_detail"),
    path("bulk-starts/<int:pk>/progress.json", views.bulk_start_progress_json, name="bulk_start_progress"),
    path("bulk-starts/<int:pk>/resume/", views.bulk_start_resume_view, name="bulk_start_resume"),
]

# Process owners (processes/owner_views.py): modelling, versions, pilots, migrations and diagrams.
urlpatterns += [
    path("owner/", owner_views.catalogue, name="owner_catalogue"),
    path("owner/upload/", owner_views.upload, name="owner_upload"),
    path("owner/files/<str:kind>/<int:pk>.bpmn", owner_views.download, name="owner_download"),
    path("owner/diagrams/<str:kind>/<int:pk>.svg", owner_views.diagram, name="owner_diagram"),
    path("owner/cases/<uuid:case_id>/", owner_views.case_diagram_page, name="owner_case"),
    path("owner/cases/<uuid:case_id>/diagram.svg", owner_views.case_diagram, name="owner_case_diagram"),
    path("owner/drafts/<int:pk>/publish/", owner_views.draft_publish, name="owner_draft_publish"),
    path("owner/versions/<int:pk>/retire/", owner_views.version_retire, name="owner_version_retire"),
    path("owner/pilots/<int:pk>/end/", owner_views.pilot_stop, name="owner_pilot_end"),
    path("owner/migrations/jobs/<int:pk>/", owner_views.migration_job, name="owner_migration_job"),
    path("owner/migrations/<int:pk>/undo/", owner_views.migration_undo, name="owner_migration_undo"),
    path("owner/<slug:key>/", owner_views.definition_detail, name="owner_definition"),
    path("owner/<slug:key>/model/", owner_views.modeler, name="owner_modeler"),
    path("owner/<slug:key>/diff/", owner_views.diff_view, name="owner_diff"),
    path("owner/<slug:key>/pilots/", owner_views.pilot_new, name="owner_pilot_new"),
    path("owner/<slug:key>/migrate/", owner_views.migrate, name="owner_migrate"),
]
