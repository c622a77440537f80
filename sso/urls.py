from django.contrib.auth.decorators import login_not_required
from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("sso/start/", login_not_required(views.StartView.as_view()), name="start"),
    path("sso/callback/", login_not_required(views.callback), name="callback"),
]
