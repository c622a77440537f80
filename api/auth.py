"""Who is calling: a bearer token (with its scopes; personal tokens act for their user) or a
signed-in browser session (read only, CSRF-checked on writes). Each operation names the scope
it needs: ``auth=scoped("read")``; django-ninja then documents both schemes in OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security.base import AuthBase

from api import services
from api.errors import ApiError
from api.models import ApiToken

SAFE_METHODS = ("GET", "HEAD")
READ = ApiToken.Scope.READ.value
FACTS = ApiToken.Scope.FACTS_WRITE.value
RUNS = ApiToken.Scope.RUNS_WRITE.value
NOTES = ApiToken.Scope.ANNOTATIONS_WRITE.value


@dataclass
class Caller:
    """A token (with its scopes) or a signed-in browser user (read only)."""

    token: ApiToken | None
    user: Any
    scopes: set[str] = field(default_factory=set)

    @property
    def person(self) -> Any:
        """The user this call acts for: the session's, or a personal token's; None for a CI
        token made by an admin."""
        if self.user is not None:
            return self.user
        return self.token.user if self.token is not None else None

    def require_team(self, team_id: int) -> None:
        """Write scopes of a team-bound token stop at that team's services."""
        if self.token is not None and self.token.team_id not in (None, team_id):
            raise ApiError(403, "forbidden", "This token is limited to another team's services.")


def _csrf_refused(request: HttpRequest) -> bool:
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    check.process_request(request)
    return check.process_view(request, None, (), {}) is not None  # type: ignore[arg-type]


def _bearer(header: str) -> Caller:
    scheme, _, secret = header.partition(" ")
    token = services.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise ApiError(401, "invalid_token", "The bearer token is missing, unknown or revoked.")
    return Caller(token=token, user=None, scopes=set(token.scopes))


def caller_of(request: HttpRequest) -> Caller | None:
    """The caller, looked up once per request; None when the request carries no credentials.
    A bad token is a 401 even when a session is signed in too."""
    if hasattr(request, "_api_caller"):
        return request._api_caller
    caller: Caller | None = None
    header = request.headers.get("Authorization", "")
    if header:
        caller = _bearer(header)
    else:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if request.method not in SAFE_METHODS and _csrf_refused(request):
                raise ApiError(403, "csrf_failed", "CSRF verification failed for this session.")
            # A browser session may read; writes need a token with the scope.
            caller = Caller(token=None, user=user, scopes={READ})
    request._api_caller = caller  # type: ignore[attr-defined]
    return caller


def authorize(request: HttpRequest, scope: str) -> Caller:
    """The caller if it holds ``scope``; 401 without credentials, 403 without the scope."""
    caller = caller_of(request)
    if caller is None:
        raise ApiError(401, "unauthenticated", "Send Authorization: Bearer <token>.")
    if scope not in caller.scopes:
        raise ApiError(403, "insufficient_scope", f"This needs the {scope} scope.")
    return caller


class _Scoped(AuthBase):
    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()


class BearerToken(_Scoped):
    """``Authorization: Bearer pf_…``: an admin-made token or a personal one from the login."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Caller | None:
        if not request.headers.get("Authorization"):
            return None  # the session scheme may still apply
        return authorize(request, self.scope)


class SessionCookie(_Scoped):
    """The portal's session cookie: read only."""

    openapi_type = "apiKey"
    openapi_in = "cookie"
    openapi_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Caller | None:
        if caller_of(request) is None:
            return None  # django-ninja answers 401 (unauthenticated)
        return authorize(request, self.scope)


def scoped(scope: str) -> list[AuthBase]:
    return [BearerToken(scope), SessionCookie(scope)]


def caller(request: HttpRequest) -> Caller:
    """The authenticated caller of an operation (django-ninja set ``request.auth``)."""
    found = getattr(request, "auth", None)
    assert isinstance(found, Caller), "the operation has no auth=scoped(...)"
    return found
