"""The staff page for API tokens: list, create (the token is shown once), revoke."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api import services
from api.forms import TokenForm
from api.models import ApiToken
from core.errors import DomainError


def staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in non-staff get 403 (anonymous users meet the login redirect first)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Only admins manage API tokens.")
        return view(request, *args, **kwargs)

    return wrapper


@staff_only
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = services.token_create(
                    name=data["name"],
                    scopes=list(data["scopes"]),
                    team=data["team"],
                    days=data["days"],
                    actor=request.user,
                )
                form = TokenForm()
            except DomainError as error:
                form.add_error(None, str(error))
                status = error.status
        else:
            status = 400
    response = render(
        request,
        "api/tokens.html",
        {"form": form, "created": created, "tokens": ApiToken.objects.select_related("team")},
        status=status,
    )
    response["Cache-Control"] = "no-store"  # the new token is on this page, once
    return response


@staff_only
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    services.token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("api:token-list")
