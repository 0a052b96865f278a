from django.urls import path

from tasks import apis

app_name = "tasks-api"
urlpatterns = [
    path("", apis.InboxApi.as_view(), name="inbox"),
    path("<int:task_id>/", apis.TaskDetailApi.as_view(), name="detail"),
    path("<int:task_id>/claim/", apis.TaskClaimApi.as_view(), name="claim"),
    path("<int:task_id>/unclaim/", apis.TaskUnclaimApi.as_view(), name="unclaim"),
    path("<int:task_id>/draft/", apis.TaskDraftApi.as_view(), name="draft"),
    path("<int:task_id>/complete/", apis.TaskCompleteApi.as_view(), name="complete"),
]
