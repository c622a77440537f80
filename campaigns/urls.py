from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.campaign_list, name="list"),
    path("campaigns/<slug:slug>/", views.campaign_detail, name="detail"),
    path(
        "campaigns/<slug:slug>/data/<str:table>.<str:fmt>",
        views.campaign_export,
        name="export",
    ),
]
