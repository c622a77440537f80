"""Sign-in and sign-out pages: the password form (as PREFLIGHT_LOCAL_PASSWORDS allows), the
start of a sign-in at the provider, its callback, and logout (at the provider too when it
offers RP-initiated logout)."""

from __future__ import annotations

import logging
import time
from typing import Any

from axes.helpers import get_client_ip_address
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_login_failed
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from mozilla_django_oidc.views import OIDCAuthenticationRequestView, OIDCLogoutView

from sso import provider
from sso.backends import SSO_ATTEMPT_NAME

log = logging.getLogger("preflight.sso")
# How long a sign-in may take at the provider (from the redirect there to the answer here).
SIGN_IN_MAX_AGE_S = 600


def _sso_context() -> dict[str, Any]:
    return {
        "sso_enabled": provider.enabled(),
        "sso_name": settings.PREFLIGHT_OIDC_NAME,
        "local_passwords": settings.PREFLIGHT_LOCAL_PASSWORDS,
    }


class LoginView(auth_views.LoginView):
    """Django's sign-in form, with the provider's button beside it (or instead of it)."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **_sso_context()}


def _refused(request: HttpRequest, reason: str, *, status: int = 403) -> HttpResponse:
    return render(
        request,
        "sso/refused.html",
        {"reason": reason, **_sso_context()},
        status=status,
    )


def _failed(request: HttpRequest, reason: str) -> HttpResponse:
    """A sign-in that failed before the backends saw it: axes counts it like any other."""
    log.warning("sso: sign-in refused: %s", reason)
    user_login_failed.send(
        sender=__name__, credentials={"username": SSO_ATTEMPT_NAME}, request=request
    )
    return _refused(request, reason)


class StartView(OIDCAuthenticationRequestView):
    """Redirects the browser to the provider's authorization endpoint (from discovery) with
    state, nonce and the PKCE challenge, which the library keeps in the session."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads the endpoint from settings here; ours comes from discovery in get().
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.enabled():
            raise Http404("single sign-on is not configured")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider.discover().authorization_endpoint
        except provider.ProviderError as exc:
            log.warning("sso: the provider cannot be used: %s", exc.reason)
            return _refused(
                request, f"The sign-in service cannot be reached: {exc.reason}", status=503
            )
        response: HttpResponse = super().get(request)
        return response


def callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back. The state must be one this session issued
    and is used once; the backend exchanges the code and validates the ID token."""
    if not provider.enabled():
        raise Http404("single sign-on is not configured")
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    error = request.GET.get("error", "")
    state = request.GET.get("state", "")
    states = request.session.get("oidc_states")
    entry = states.pop(state, None) if isinstance(states, dict) and state else None
    if entry is not None:
        # Used once, whatever happens next: a second answer with this state is refused.
        request.session["oidc_states"] = states
        request.session.save()
    if error:
        return _failed(request, f"the provider answered {error[:60]!r}")
    if not isinstance(entry, dict):
        return _failed(
            request,
            "this answer does not belong to a sign-in started here, or was already used "
            "(unknown state): start again",
        )
    if time.time() - float(entry.get("added_on") or 0) > SIGN_IN_MAX_AGE_S:
        return _failed(request, "this sign-in was started too long ago: start again")
    issuer = request.GET.get("iss")
    if issuer is not None and issuer != settings.PREFLIGHT_OIDC_ISSUER:
        # RFC 9207: an answer from another provider than the one this sign-in went to.
        return _failed(request, "the answer names another provider (iss)")
    user = auth.authenticate(request=request, username=SSO_ATTEMPT_NAME, sso_state=entry)
    if user is None or not user.is_active:
        if getattr(request, "axes_locked_out", False):
            return _refused(request, "Too many failed sign-ins from this address.", status=429)
        reason = getattr(request, "sso_refusal", "the sign-in was refused")
        return _refused(request, reason)
    auth.login(request, user)
    id_token = getattr(request, "sso_id_token", "")
    if id_token:
        request.session["oidc_id_token"] = id_token
    if settings.AXES_ENABLED and settings.AXES_RESET_ON_SUCCESS:
        # As for a password: a success clears this address's failed sign-ins.
        axes_reset(ip=get_client_ip_address(request), username=SSO_ATTEMPT_NAME)
    next_url = request.session.pop("oidc_login_next", None)
    return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


def provider_logout_url(request: HttpRequest) -> str:
    """Where sign-out goes (OIDC_OP_LOGOUT_URL_METHOD): the provider's end-session endpoint
    for a session opened through the provider, when it has one; the sign-in page otherwise."""
    local = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    if not id_token or not provider.enabled():
        return local
    try:
        disc = provider.discover()
    except provider.ProviderError as exc:
        log.warning("sso: signed out here only; the provider cannot be reached: %s", exc.reason)
        return local
    if not disc.end_session_endpoint:
        return local
    return provider.logout_url(
        disc, id_token=id_token, post_logout_redirect_uri=request.build_absolute_uri(local)
    )


class LogoutView(OIDCLogoutView):
    """POST only (the library's default): signs out here, then at the provider."""
