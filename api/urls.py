from django.urls import path, re_path

from api import pages
from api.v1 import unknown_route
from api.v1 import urlpatterns as api_routes

app_name = "api"

urlpatterns = [
    *api_routes(),
    re_path(r"^api/(?P<rest>.*)$", unknown_route, name="unknown"),
    path("tokens/", pages.token_list, name="token-list"),
    path("tokens/<int:pk>/revoke/", pages.token_revoke, name="token-revoke"),
]
