from django.urls import path

from processes import apis

app_name = "processes-api"
urlpatterns = [
    path("processes/", apis.ProcessListApi.as_view(), name="process-list"),
    path("processes/<slug:key>/", apis.ProcessDetailApi.as_view(), name="process-detail"),
    path("processes/<slug:key>/versions/", apis.VersionDeployApi.as_view(), name="version-deploy"),
    path(
        "processes/<slug:key>/versions/<int:number>/", apis.VersionDetailApi.as_view(), name="version-detail"
    ),
    path(
        "processes/<slug:key>/versions/<int:number>/publish/",
        apis.VersionPublishApi.as_view(),
        name="version-publish",
    ),
    path(
        "processes/<slug:key>/versions/<int:number>/retire/",
        apis.VersionRetireApi.as_view(),
        name="version-retire",
    ),
    path("cases/", apis.CaseStartApi.as_view(), name="case-start"),
    path("cases/<uuid:case_id>/", apis.CaseStateApi.as_view(), name="case-state"),
    path("cases/<uuid:case_id>/history/", apis.CaseHistoryApi.as_view(), name="case-history"),
]
