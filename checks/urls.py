from django.urls import path

from checks import views

app_name = "checks"

urlpatterns = [
    path("services/<slug:slug>/runs/", views.run_history, name="run-history"),
    path("services/<slug:slug>/runs/start/", views.run_start, name="run-start"),
    path("services/<slug:slug>/profile/", views.profile_edit, name="profile"),
    path("runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<int:run_id>/rerun/<str:key>/", views.rerun_check, name="rerun-check"),
]
