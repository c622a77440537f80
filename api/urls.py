from django.urls import path, re_path

from api import login, pages, views
from api.http import route, unknown_route

app_name = "api"

READ, FACTS, RUNS = "read", "facts:write", "runs:write"
NOTES = "annotations:write"

urlpatterns = [
    path("api/v1/openapi.json", route({"GET": (None, views.openapi)}), name="openapi"),
    path("api/v1/services", route({"GET": (READ, views.service_list)}), name="service-list"),
    path(
        "api/v1/services/<slug:slug>",
        route({"GET": (READ, views.service_detail)}),
        name="service-detail",
    ),
    path(
        "api/v1/services/<slug:slug>/runs",
        route({"GET": (READ, views.run_list), "POST": (RUNS, views.run_create)}),
        name="run-list",
    ),
    path("api/v1/runs/<int:run_id>", route({"GET": (READ, views.run_detail)}), name="run-detail"),
    path(
        "api/v1/services/<slug:slug>/launch",
        route({"GET": (READ, views.launch_status)}),
        name="launch-status",
    ),
    path(
        "api/v1/services/<slug:slug>/facts",
        route({"GET": (READ, views.fact_list), "POST": (FACTS, views.fact_create)}),
        name="fact-list",
    ),
    path(
        "api/v1/services/<slug:slug>/facts/<int:fact_id>",
        route({"GET": (READ, views.fact_detail)}),
        name="fact-detail",
    ),
    path("api/v1/auth/login", route({"POST": (None, login.login)}), name="login"),
    path(
        "api/v1/annotations",
        route({"GET": (READ, views.annotation_list), "POST": (NOTES, views.annotation_create)}),
        name="annotation-list",
    ),
    path(
        "api/v1/annotations/<int:annotation_id>",
        route(
            {
                "GET": (READ, views.annotation_detail),
                "PATCH": (NOTES, views.annotation_update),
                "DELETE": (NOTES, views.annotation_delete),
            }
        ),
        name="annotation-detail",
    ),
    re_path(r"^api/(?P<rest>.*)$", unknown_route, name="unknown"),
    path("tokens/", pages.token_list, name="token-list"),
    path("tokens/<int:pk>/revoke/", pages.token_revoke, name="token-revoke"),
]
