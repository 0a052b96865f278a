from django.urls import path

from tasks import views

app_name = "tasks"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:pk>/", views.task_detail, name="detail"),
    path("<int:pk>/claim/", views.claim, name="claim"),
    path("<int:pk>/unclaim/", views.unclaim, name="unclaim"),
    path("<int:pk>/delegate/", views.delegate, name="delegate"),
    path("<int:pk>/reassign/", views.reassign, name="reassign"),
]
