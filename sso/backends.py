"""Authentication backends: local passwords (as policy allows) and the OpenID Provider.

Both run behind django-axes' backend (settings.AUTHENTICATION_BACKENDS), so a locked-out
address is refused before either looks at anything, and every failure is recorded by axes'
``user_login_failed`` handler, as for the sign-in form."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from sso import provider, services

log = logging.getLogger("preflight.sso")

# The name sign-ins through the provider are throttled and recorded under by django-axes
# (with the address): no account can be called this (parentheses and spaces).
SSO_ATTEMPT_NAME = "(single sign-on)"


def local_passwords_allowed(user: Any) -> bool:
    mode = settings.PREFLIGHT_LOCAL_PASSWORDS
    if mode == "all":
        return True
    if mode == "breakglass":
        return user.get_username() in settings.PREFLIGHT_BREAKGLASS_USERS
    return False


class LocalPasswordBackend(ModelBackend):
    """Django's username and password check, limited by PREFLIGHT_LOCAL_PASSWORDS: ``all``
    accounts, only the ``breakglass`` ones, or none (``off``). A session opened with a
    password ends at its next request once the policy no longer allows it."""

    def user_can_authenticate(self, user: Any) -> bool:
        return super().user_can_authenticate(user) and local_passwords_allowed(user)


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with its HTTP and its validation replaced.

    The library's own requests (``requests.get``/``post`` in ``get_token``,
    ``retrieve_matching_jwk``, ``get_userinfo``) are never reached: :meth:`authenticate` does
    the exchange through :mod:`sso.provider` (the guarded client) and validates the ID token
    in full there; the library keeps the states, the nonce and PKCE in the session
    (sso.views). Only called with ``sso_state``, which only the callback view passes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library's __init__ reads endpoint settings; ours come from discovery, lazily
        # (this backend is built for every authenticate() and every session's request).
        self.UserModel = get_user_model()

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        sso_state: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None or sso_state is None or not provider.enabled():
            return None
        self.request = request
        try:
            user = self._sign_in(request, sso_state)
        except (provider.ProviderError, services.SignInRefused) as exc:
            request.sso_refusal = exc.reason  # type: ignore[attr-defined]
            log.warning("sso: sign-in refused: %s", exc.reason)
            return None
        return user

    def _sign_in(self, request: HttpRequest, state: dict[str, Any]) -> Any:
        code = request.GET.get("code", "")
        if not code:
            raise provider.ProviderError("the provider's answer has no code")
        disc = provider.discover()
        tokens = provider.exchange_code(
            disc,
            code=code,
            redirect_uri=request.build_absolute_uri(reverse("sso:callback")),
            code_verifier=str(state.get("code_verifier") or ""),
        )
        claims = provider.validate_id_token(
            tokens["id_token"], nonce=str(state.get("nonce") or ""), disc=disc
        )
        access_token = tokens.get("access_token")
        extra = provider.userinfo(
            disc,
            access_token if isinstance(access_token, str) else "",
            subject=claims["sub"],
        )
        # The ID token's own claims win: userinfo only adds (groups, names, email).
        user = services.sign_in(issuer=disc.issuer, claims={**extra, **claims})
        # For RP-initiated logout (id_token_hint): the view keeps it in the session.
        request.sso_id_token = tokens["id_token"]  # type: ignore[attr-defined]
        return user

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    # The library's HTTP paths, unreachable by design: refuse loudly if ever reached.
    def get_token(self, payload: Any) -> Any:
        raise NotImplementedError("sso.provider.exchange_code does the token request")

    def retrieve_matching_jwk(self, token: Any) -> Any:
        raise NotImplementedError("sso.provider.signing_key finds the key")

    def get_userinfo(self, access_token: Any, id_token: Any, payload: Any) -> Any:
        raise NotImplementedError("sso.provider.userinfo fetches userinfo")
