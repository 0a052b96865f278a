from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from common import views as common_views

urlpatterns = [
    path("", common_views.home, name="home"),
    path("health/", common_views.health, name="health"),
    path("", include("accounts.urls")),  # login (throttled, recorded) and OpenID Connect
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("tasks/", include("tasks.urls")),
    path("notifications/", include("tasks.notification_urls")),
    path("processes/", include("processes.urls")),
    path("dashboards/", include("dashboards.urls")),
    path("audit/", include("audit.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file: nothing inline for the content security policy.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/tasks/", include("tasks.api_urls")),
    path("api/processes/owner/", include("processes.owner_api_urls")),
    path("api/", include("processes.api_urls")),
    path("api/pupils/", include("accounts.api_urls")),
    path("api/dashboards/", include("dashboards.api_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "common.errors.page_not_found"
handler500 = "common.errors.server_error"
