from django.contrib import admin
from django.urls import include, path
from django.views.decorators.debug import sensitive_variables

from api.v1 import api
from app.probes import router as probes
from sso import views as sso_views

# The probes join the API's generated OpenAPI document (and are served by django-ninja): this
# must happen before api.urls is included below, which fixes the API's routes.
api.add_router("/", probes)

urlpatterns = [
    # LoginView hides the password field from error reports; this hides it (and everything
    # else) from the locals of every frame below it, authentication backends included.
    path("login/", sensitive_variables()(sso_views.LoginView.as_view()), name="login"),
    path("logout/", sso_views.LogoutView.as_view(), name="logout"),
    path("", include("sso.urls")),
    path("", include("catalogsync.urls")),
    path("admin/", admin.site.urls),
    path("", include("api.urls")),
    path("", include("reviews.urls")),
    path("", include("checks.urls")),
    path("", include("drills.urls")),
    path("", include("dashboards.urls")),
    path("", include("campaigns.urls")),
    path("", include("portal.urls")),
]

# JSON in the error format for clients that do not ask for HTML; the usual pages otherwise.
handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"
