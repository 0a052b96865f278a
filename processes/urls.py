from django.urls import path

from processes import views

app_name = "processes"
urlpatterns = [
    path("start/", views.case_start, name="case_start"),
    path("bulk-starts/new/", views.bulk_start_new, name="bulk_start_new"),
    path("bulk-starts/<int:pk>/", views.bulk_start_detail, name="bulk_start_detail"),
    path("bulk-starts/<int:pk>/progress.json", views.bulk_start_progress_json, name="bulk_start_progress"),
    path("bulk-starts/<int:pk>/resume/", views.bulk_start_resume_view, name="bulk_start_resume"),
]
