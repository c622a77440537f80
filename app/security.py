"""Security headers (a strict CSP: scripts only from our own origin) and the request size
limit, for every response."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

# Scripts only from 'self': no inline script, no eval. Styles allow inline because plotly.js
# injects its own <style> element; nothing executable comes that way.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def content_security_policy() -> str:
    """The CSP, with the OpenID Provider's origin allowed as a form's destination when single
    sign-on is on: signing out (a POST) ends with a redirect to the provider's end-session
    endpoint, and browsers apply form-action to a form's redirects too."""
    issuer = urlsplit(settings.PREFLIGHT_OIDC_ISSUER)
    if not issuer.scheme or not issuer.netloc:
        return CSP
    return CSP.replace(
        "form-action 'self'", f"form-action 'self' {issuer.scheme}://{issuer.netloc}"
    )


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", content_security_policy())
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


def _error(status: int, code: str, message: str, details: object = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "details": details}}, status=status
    )


class NulByteGuardMiddleware:
    """400 for a query string holding a NUL byte: no field can store one (PostgreSQL refuses
    it outright), so such a request can only be an error or a probe."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or "\x00" in value for key, value in request.GET.items()):
            return _error(400, "invalid_request", "query parameters may not contain NUL bytes")
        return self.get_response(request)


# Routes whose multipart form carries an evidence file: their bodies may reach the file
# limit (PREFLIGHT_EVIDENCE_MAX_BYTES) plus the form's other fields.
UPLOAD_ROUTES = frozenset({"portal:item-update"})
_FORM_ROOM = 64 * 1024


def body_limit(request: HttpRequest) -> int:
    """The largest body this request may declare."""
    limit = settings.PREFLIGHT_MAX_REQUEST_BYTES
    if request.method == "POST" and request.content_type == "multipart/form-data":
        try:
            route = resolve(request.path_info).view_name
        except Resolver404:
            return limit
        if route in UPLOAD_ROUTES:
            return max(limit, settings.PREFLIGHT_EVIDENCE_MAX_BYTES + _FORM_ROOM)
    return limit


class RequestSizeLimitMiddleware:
    """413 before reading a body larger than PREFLIGHT_MAX_REQUEST_BYTES (or, for an
    evidence upload, than PREFLIGHT_EVIDENCE_MAX_BYTES and the form around it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.PREFLIGHT_MAX_REQUEST_BYTES
        if declared.isdigit() and int(declared) > limit:
            limit = body_limit(request)
        if declared.isdigit() and int(declared) > limit:
            return _error(
                413,
                "payload_too_large",
                f"request bodies are limited to {limit} bytes",
                {"limit": limit},
            )
        return self.get_response(request)
