from django.urls import path

from catalogsync import views

app_name = "catalogsync"

urlpatterns = [
    path("catalog/", views.overview, name="overview"),
    path("catalog/syncs/<int:pk>/", views.sync_detail, name="sync-detail"),
    path("catalog/sync/", views.sync_now, name="sync-now"),
]
