from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("services/", views.service_list, name="service-list"),
    path("services/<slug:slug>/", views.service_detail, name="service-detail"),
    path("services/<slug:slug>/items/<str:item_key>/", views.item_update, name="item-update"),
    path("services/<slug:slug>/history/", views.history, name="service-history"),
    path(
        "services/<slug:slug>/history/export.<str:fmt>",
        views.history_export,
        name="service-history-export",
    ),
    path("history/", views.history, name="history"),
    path("evidence/<int:file_id>/", views.evidence_file, name="evidence-file"),
    path("history/export.<str:fmt>", views.history_export, name="history-export"),
]
