"""How the probe logs in, per login style (``auth.style``, see auth_settings.py).

``login_request`` builds the one HTTP request a style sends; ``read_session`` reads the tokens
out of the answer. Neither sends anything: ``Target`` does, through the guarded client, and
caches the session. Errors here are about the probe's own login, so they are never a verdict
on the service: the runner records them as ``error`` with the status and the reason.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from checks.engine.outcome import MissingSetting
from checks.engine.profile import Profile
from checks.engine.templates import find_path, render
from checks.engine.tokens import jwt_claims

FORM = "application/x-www-form-urlencoded"
# The longest Retry-After the probe waits out on its own login; longer is reported.
MAX_LOGIN_WAIT_S = 60.0


class LoginFailed(Exception):
    """The configured probe could not log in; checks needing a token cannot decide."""

    def __init__(self, summary: str, *, status_code: int | None = None, **evidence: Any) -> None:
        self.summary = summary
        self.status_code = status_code
        self.evidence = evidence
        super().__init__(summary)


class LoginRateLimited(LoginFailed):
    """The probe's own login got 429: reported as exactly that, never as another verdict."""

    def __init__(self, what: str, retry_after: str | None, **evidence: Any) -> None:
        self.retry_after = retry_after
        waited = "" if retry_after is None else f" (Retry-After: {retry_after})"
        super().__init__(
            f"the probe's own login was rate limited: {what} answered 429{waited}; "
            "run again once the service's login limit has reset",
            status_code=429,
            retry_after=retry_after,
            **evidence,
        )


@dataclass(frozen=True)
class LoginRequest:
    method: str
    url: str
    what: str  # "POST /auth/login", for messages
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    content: bytes | None = field(default=None, repr=False)
    json: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Session:
    """One login's result: the tokens and when to log in again."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float = float("inf")
    response: httpx.Response | None = field(default=None, repr=False)


def _route_what(method: str, url: str) -> str:
    return f"{method} {httpx.URL(url).path}"


def login_request(
    profile: Profile,
    route: Callable[[str], str],
    url: Callable[[str], str],
    *,
    username: str | None,
    password: str | None,
    scope: str | None,
) -> LoginRequest:
    """The request that logs ``username`` in (the probe when None) for ``scope``."""
    auth = profile.auth
    if auth.style == "static":
        raise MissingSetting("paths.login", "the service has no login of its own (static token)")
    if auth.style == "client_credentials":
        return _client_credentials(profile, url, scope)
    user = username if username is not None else auth.username
    secret = password if password is not None else auth.password
    if user is None:
        raise MissingSetting("auth.username", "needed to log in")
    if secret is None:
        raise MissingSetting("auth.password", "needed to log in")
    login_url = route("login")
    if auth.style == "oauth2_password":
        form = {"grant_type": "password", "username": user, "password": secret}
        if scope:
            form["scope"] = scope
        if auth.client_id:
            form["client_id"] = auth.client_id
        if auth.client_secret:
            form["client_secret"] = auth.client_secret
        return LoginRequest(
            "POST",
            login_url,
            _route_what("POST", login_url),
            headers={"Content-Type": FORM},
            content=urlencode(form).encode(),
        )
    body = render(auth.body, {"username": user, "password": secret, "scope": scope or None})
    return LoginRequest("POST", login_url, _route_what("POST", login_url), json=body)


def _client_credentials(
    profile: Profile, url_of: Callable[[str], str], scope: str | None
) -> LoginRequest:
    auth = profile.auth
    if not auth.token_url:
        raise MissingSetting("auth.token_url", "the token endpoint of the client-credentials grant")
    if not auth.client_id:
        raise MissingSetting("auth.client_id", "needed for the client-credentials grant")
    if not auth.client_secret:
        raise MissingSetting("auth.client_secret", "needed for the client-credentials grant")
    url = url_of(auth.token_url)
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    if auth.audience:
        form["audience"] = auth.audience
    # client_secret_basic: the method every authorization server must support (RFC 6749 §2.3.1)
    basic = base64.b64encode(f"{auth.client_id}:{auth.client_secret}".encode()).decode()
    return LoginRequest(
        "POST",
        url,
        _route_what("POST", url),
        headers={"Content-Type": FORM, "Authorization": f"Basic {basic}"},
        content=urlencode(form).encode(),
    )


def read_session(profile: Profile, response: httpx.Response, started: float) -> Session:
    """The tokens in a 200 login answer; LoginFailed naming the path when one is missing."""
    auth = profile.auth
    try:
        payload = response.json()
    except ValueError:
        payload = None
    token = find_path(payload, auth.token_path)
    if not isinstance(token, str) or not token:
        raise LoginFailed(
            f"the login answered {response.status_code} without a token at "
            f"auth.token_path = {auth.token_path!r}",
            status_code=response.status_code,
        )
    refresh = find_path(payload, auth.refresh_token_path) if auth.refresh_token_path else None
    return Session(
        access_token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=_expiry(find_path(payload, auth.expires_in_path), token, started),
        response=response,
    )


# Log in again this long before the token expires, so a token never dies mid-check.
EXPIRY_MARGIN_S = 30.0


def _expiry(expires_in: Any, token: str, started: float) -> float:
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return started + max(float(expires_in) - EXPIRY_MARGIN_S, 0.0)
    exp = (jwt_claims(token) or {}).get("exp")  # a JWT's own exp, when the answer has none
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return max(float(exp) - EXPIRY_MARGIN_S, started)
    return float("inf")


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP-date), or None when absent/invalid."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
