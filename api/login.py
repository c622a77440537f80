"""POST /api/v1/auth/login: username and password in, a short-lived personal bearer token out.

Attempts go through django.contrib.auth.authenticate, so django-axes (first authentication
backend) counts failures per (username, client address) and refuses a locked-out pair before
the password is even checked; the lockout answers 429 with Retry-After, in the error format.
The body is validated first (api/schemas.Login, and the parser's refusal of NUL and lone
surrogates): a username django-axes cannot encode never reaches it."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest
from ninja import Router

from api import schemas, services
from api.errors import ApiError
from core.errors import lockout_retry_after

router = Router()


@router.post(
    "/auth/login",
    auth=None,
    response={200: schemas.AccessToken, frozenset({400, 401, 413, 429}): schemas.Error},
    operation_id="login",
    summary="Exchange a username and password for a short-lived personal bearer token",
    description="No authentication.",
    url_name="login",
)
def login(request: HttpRequest, payload: schemas.Login) -> schemas.AccessToken:
    user = authenticate(request=request, username=payload.username, password=payload.password)
    if getattr(request, "axes_locked_out", False):
        seconds = lockout_retry_after(request)
        raise ApiError(
            429,
            "too_many_attempts",
            "Too many failed logins for this username from this address; try again later.",
            {"retry_after_s": seconds},
            headers={"Retry-After": str(seconds)},
        )
    if user is None:
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    issued = services.personal_token_create(user=user, scopes=payload.scopes)
    # As for a session login: last_login is updated and django-axes resets the failures.
    user_logged_in.send(sender=type(user), request=request, user=user)
    return schemas.AccessToken(
        access_token=issued.secret,
        token_type="bearer",
        expires_in=int(services.PERSONAL_LIFETIME.total_seconds()),
        scope=" ".join(issued.token.scopes),
    )
