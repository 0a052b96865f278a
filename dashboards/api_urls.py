from django.urls import path

from dashboards import apis

app_name = "dashboards-api"
urlpatterns = [
    path("<slug:key>/", apis.DashboardReportApi.as_view(), name="report"),
]
