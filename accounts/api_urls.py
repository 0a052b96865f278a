from django.urls import path

from accounts import apis

app_name = "accounts-api"
urlpatterns = [
    path("<int:pupil_id>/", apis.PupilRectifyApi.as_view(), name="pupil-rectify"),
    path("<int:pupil_id>/export/", apis.PupilExportApi.as_view(), name="pupil-export"),
    path("<int:pupil_id>/erasure/", apis.PupilEraseApi.as_view(), name="pupil-erase"),
]
