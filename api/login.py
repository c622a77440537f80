"""POST /api/v1/auth/login: username and password in, a short-lived personal bearer token out.

Attempts go through django.contrib.auth.authenticate, so django-axes (first authentication
backend) counts failures per (username, client address) and refuses a locked-out pair before
the password is even checked; the lockout answers 429 with Retry-After, in the error format."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest

from api import services
from api.http import ApiError, Caller, Result, parse_json
from core.errors import lockout_retry_after

FIELDS = {"username", "password", "scope"}


def _credentials(data: Any) -> tuple[str, str, list[str]]:
    """(username, password, scopes) of a well-formed body; 400 naming every problem."""
    if not isinstance(data, dict):
        raise ApiError(
            400, "validation_error", 'The body is {"username", "password", "scope"?}.', []
        )
    details = [
        {"field": key, "message": f"unknown field {key}"} for key in sorted(set(data) - FIELDS)
    ]
    for key in ("username", "password"):
        value = data.get(key)
        if not isinstance(value, str) or not value or len(value) > 1024 or "\x00" in value:
            details.append({"field": key, "message": f"{key} must be a non-empty string"})
    scope = data.get("scope")
    scopes = list(services.PERSONAL_SCOPES)
    if scope is not None:
        if not isinstance(scope, str) or not scope.split():
            details.append({"field": "scope", "message": "scope is a space-separated string"})
        elif refused := sorted(set(scope.split()) - set(services.PERSONAL_SCOPES)):
            details.append(
                {
                    "field": "scope",
                    "message": f"not grantable here: {' '.join(refused)} (allowed: "
                    f"{' '.join(services.PERSONAL_SCOPES)})",
                }
            )
        else:
            scopes = sorted(set(scope.split()))
    if details:
        raise ApiError(400, "validation_error", "The login body is not valid.", details)
    return data["username"], data["password"], scopes


def login(request: HttpRequest, caller: Caller) -> Result:
    username, password, scopes = _credentials(parse_json(request))
    user = authenticate(request=request, username=username, password=password)
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
    issued = services.personal_token_create(user=user, scopes=scopes)
    # As for a session login: last_login is updated and django-axes resets the failures.
    user_logged_in.send(sender=type(user), request=request, user=user)
    return 200, {
        "access_token": issued.secret,
        "token_type": "bearer",
        "expires_in": int(services.PERSONAL_LIFETIME.total_seconds()),
        "scope": " ".join(issued.token.scopes),
    }
