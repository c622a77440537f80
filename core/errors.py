"""Errors every app shares: the domain errors a refused operation raises, the one page that
shows such a refusal, and the answers outside the API's own routes (404 and 500 handlers,
django-axes' lockout).

Clients that do not ask for HTML (no ``text/html`` in Accept: curl, CI, probes, the checks)
get the API's error format ``{"error": {"code", "message", "details"}}``; browsers get the
usual page. Security headers and X-Request-ID come from the middleware, as on any response."""

from __future__ import annotations

import json
from typing import Any

from axes.helpers import get_cool_off, get_lockout_message
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from core.htmx import is_partial


class DomainError(Exception):
    """A refused operation; ``status`` is the HTTP status a view should answer with."""

    status = 400


class NotAllowed(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class InvalidInput(DomainError):
    status = 400


def refused(request: HttpRequest, error: DomainError, back: str) -> HttpResponse:
    """The page a browser gets for a refused operation: nothing was changed, why, and a link
    back to where the user came from; answered with the error's status.

    To htmx (which swaps 4xx answers into their target) a whole page would land inside the
    row or panel that asked: the answer is the message alone, not swapped (HX-Reswap: none),
    and the event ``preflight:refused`` carries it to the page's notice (static/js/
    htmx_errors.js). Views that can redraw their fragment with the reason do so instead."""
    if is_partial(request):
        response = render(
            request, "core/htmx/refused.html", {"message": str(error)}, status=error.status
        )
        response["HX-Reswap"] = "none"
        # json.dumps escapes non-ASCII: the header stays Latin-1 safe.
        response["HX-Trigger"] = json.dumps({"preflight:refused": {"message": str(error)}})
        return response
    return render(
        request, "core/refused.html", {"message": str(error), "back": back}, status=error.status
    )


# Without a cool-off (permanent lockout) a client still needs a number in Retry-After.
_NO_COOL_OFF_RETRY_S = 3600


def wants_html(request: HttpRequest) -> bool:
    return "text/html" in request.headers.get("Accept", "").lower()


def _error(status: int, code: str, message: str, details: Any = None) -> JsonResponse:
    response = JsonResponse(
        {"error": {"code": code, "message": message, "details": details}}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_html(request):
        return defaults.page_not_found(request, exception)
    return _error(404, "not_found", f"Nothing here: {request.path}", {"path": request.path})


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_html(request):
        return defaults.server_error(request)
    return _error(500, "internal_error", "Something went wrong on our side.")


def lockout_retry_after(request: HttpRequest) -> int:
    """Seconds until a locked-out (username, address) pair may try again: the cool-off."""
    cool_off = get_cool_off(request)
    return max(1, int(cool_off.total_seconds())) if cool_off else _NO_COOL_OFF_RETRY_S


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """django-axes' answer to a locked-out attempt (settings.AXES_LOCKOUT_CALLABLE).

    The API login already answered 429 in the error format with Retry-After: that stays.
    Other logins (the sign-in page, the admin) get axes' message, now with Retry-After too."""
    if (
        original_response is not None
        and original_response.status_code == 429
        and request.path.startswith("/api/")
    ):
        return original_response
    response = HttpResponse(get_lockout_message(), status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(lockout_retry_after(request))
    return response
