from django.urls import path

from drills import views

app_name = "drills"

urlpatterns = [
    path("hooks/alertmanager", views.alertmanager_webhook, name="alertmanager-webhook"),
    path("services/<slug:slug>/drills/", views.drill_history, name="history"),
    path("drills/<int:drill_id>/", views.drill_detail, name="detail"),
    path("drills/<int:drill_id>/cancel/", views.drill_cancel, name="cancel"),
]
