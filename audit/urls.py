from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("cases/<uuid:instance_id>/", views.case_timeline_page, name="case_timeline"),
    path("exports/", views.event_log_export_page, name="export"),
]
