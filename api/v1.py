"""The API on django-ninja: one NinjaAPI whose operations (api/views.py, api/login.py) are
validated against pydantic schemas (api/schemas.py) and whose OpenAPI 3.1 document, at
/api/v1/openapi.json, is generated from them: nothing in it is written by hand.

The API is mounted at the root so that the one document also covers routes of the composition
root that clients and Preflight's own ``api.openapi`` check expect (the probes /health, /ready,
/metrics): ``app/urls.py`` mounts its probes router with ``api.add_router`` before including
``api.urls``.

Around django-ninja, for every route it serves: the error format for 405 too, HEAD answered as
GET, ``Cache-Control: no-store``, no login redirect (the API answers 401 itself). X-Request-ID
and the security headers come from the middleware, as on any response."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation
from ninja.types import DictStrAny

from api import errors, login, views
from api.auth import BearerToken, SessionCookie
from api.jsonbody import GuardedParser

PREFIX = "/api/v1"
OPENAPI_URL = f"{PREFIX}/openapi.json"
REQUEST_ID = {
    "description": "Echoed when the request carried a sane X-Request-ID, generated otherwise.",
    "schema": {"type": "string"},
}


class Document(OpenAPISchema):
    """django-ninja's document, plus what django-ninja leaves out: each operation's scope in
    its security requirement, the X-Request-ID header and the meaning of each error status."""

    def operation_security(self, operation: Operation) -> list[DictStrAny] | None:
        schemes = [
            auth
            for auth in operation.auth_callbacks
            if isinstance(auth, BearerToken | SessionCookie)
        ]
        if not schemes:
            return None
        result = []
        for auth in schemes:
            name = type(auth).__name__
            self.securitySchemes[name] = auth.openapi_security_schema
            result.append({name: [auth.scope]})
        return result

    def responses(self, operation: Operation) -> dict[int, DictStrAny]:
        result = super().responses(operation)
        for status, response in result.items():
            if status in errors.STATUS_CODES:
                response["description"] = errors.STATUS_CODES[status]
            response["headers"] = {"X-Request-ID": REQUEST_ID}
            if status == 429:
                response["headers"]["Retry-After"] = {
                    "description": "Seconds until the username may try again from here.",
                    "schema": {"type": "string"},
                }
        return result


class PreflightAPI(NinjaAPI):
    _document: Document | None = None

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: DictStrAny | None = None
    ) -> OpenAPISchema:
        # The operations are fixed once the URLs are built: generate the document once.
        if self._document is None:
            self._document = Document(self, "")
        return self._document


api = PreflightAPI(
    title="Preflight API",
    version="1.0.0",
    description="Services, readiness, runs, launch status, facts from CI, annotations and the "
    "API login. Errors: {error: {code, message, details}}. Lists: cursor pagination "
    "(limit, cursor → next_cursor). POSTs honour Idempotency-Key.",
    openapi_url=OPENAPI_URL,
    docs_url=None,  # no Swagger page: it would load scripts from a CDN (CSP, no network)
    servers=[{"url": "/"}],
    urls_namespace="api",
    parser=GuardedParser(),
)
errors.install(api)
api.add_router(PREFIX, views.router)
api.add_router(PREFIX, login.router)


def _allowed(response: HttpResponseBase) -> str:
    methods = {m.strip() for m in response["Allow"].split(",") if m.strip()}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _served(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @csrf_exempt  # bearer requests need no CSRF; session writes are checked in api.auth
    @login_not_required  # the API answers 401 in its own format instead of a login redirect
    @wraps(view)
    def served(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = request.method
        if method == "HEAD":
            request.method = "GET"  # answered as GET, without the body
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            response = errors.error_response(
                errors.ApiError(
                    405,
                    "method_not_allowed",
                    f"{method} is not allowed here.",
                    headers={"Allow": _allowed(response)},
                )
            )
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        if method == "HEAD" and isinstance(response, HttpResponse):
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response

    served.api_route = True  # type: ignore[attr-defined]  # tests find the API's routes by it
    return served


def urlpatterns() -> list[URLPattern]:
    """django-ninja's routes, each served as above. Its root route (``""``, a 404 that only
    helps reverse() find the API's base) is left out: ``/`` is the portal's home page."""
    patterns, _app, _namespace = api.urls
    return [
        path(str(p.pattern), _served(p.callback), name=p.name or "")
        for p in patterns
        if isinstance(p, URLPattern) and p.name != "api-root"
    ]


@csrf_exempt
@login_not_required
def unknown_route(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Every path under /api/ that no route matches, whatever the method."""
    return errors.error_response(
        errors.ApiError(404, "not_found", f"No API route matches {request.path}.")
    )
