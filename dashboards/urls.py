from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:key>/", views.overview, name="overview"),
    path("<slug:key>/bottlenecks/", views.bottlenecks, name="bottlenecks"),
    path("<slug:key>/bottlenecks/heatmap.svg", views.heatmap, name="heatmap"),
    path("<slug:key>/deadlines/", views.deadlines, name="deadlines"),
    path("<slug:key>/pilot/", views.pilot, name="pilot"),
]
