from django.urls import path

from checks import views

app_name = "checks"

urlpatterns = [
    path("services/<slug:slug>/runs/", views.run_history, name="run-history"),
    path("services/<slug:slug>/runs/start/", views.run_start, name="run-start"),
    path("services/<slug:slug>/profile/", views.profile_edit, name="profile"),
    path("runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<int:run_id>/rerun/<str:key>/", views.rerun_check, name="rerun-check"),
    # Outside services/<slug>/, so no slug can shadow it.
    path("add-service/", views.add_service, name="add-service"),
    path("add-service/<int:job_id>/", views.discovery, name="discovery"),
    path("add-service/<int:job_id>/retry/", views.discovery_retry, name="discovery-retry"),
    path("add-service/<int:job_id>/blank/", views.discovery_blank, name="discovery-blank"),
    path("docs/profile/", views.profile_reference, name="profile-reference"),
]
