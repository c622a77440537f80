from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("dashboards/", views.portfolio, name="portfolio"),
    path("dashboards/data/<str:table>.<str:fmt>", views.portfolio_export, name="portfolio-export"),
    path("dashboards/teams/<slug:slug>/", views.team, name="team"),
    path(
        "dashboards/teams/<slug:slug>/data/<str:table>.<str:fmt>",
        views.team_export,
        name="team-export",
    ),
    path("dashboards/services/<slug:slug>/", views.service, name="service"),
    path(
        "dashboards/services/<slug:slug>/data/<str:table>.<str:fmt>",
        views.service_export,
        name="service-export",
    ),
]
