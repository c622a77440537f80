"""The API's error format, ``{"error": {"code", "message", "details"}}``, for every 4xx and 5xx
under /api/: the API's own refusals (ApiError), domain refusals from the services below, and
what django-ninja raises itself (request validation, unparsable bodies, missing credentials),
each mapped to a code a client can branch on."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core.errors import DomainError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json; charset=utf-8"
DOMAIN_CODES = {400: "validation_error", 403: "forbidden", 404: "not_found", 409: "conflict"}
# What each documented error status means, for the OpenAPI document's response descriptions.
STATUS_CODES = {
    400: "Invalid input (validation_error, invalid_json, invalid_cursor)",
    401: "Missing, unknown or revoked token (unauthenticated, invalid_token)",
    403: "Missing scope, team-bound token or CSRF (insufficient_scope, forbidden, csrf_failed)",
    404: "No such resource (not_found)",
    409: "Conflict, or an Idempotency-Key reused with another body (idempotency_conflict)",
    413: "Body over the size limit (payload_too_large)",
    429: "Too many failed logins for this username from this address (too_many_attempts)",
}


class ApiError(Exception):
    """A refusal in the error format: ``status``, a stable ``code``, a sentence, details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}  # e.g. Retry-After on a 429


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def json_response(status: int, body: Any) -> HttpResponse:
    # 204 has no body by definition: bytes after the headers would corrupt a kept-alive
    # connection for the client's next request.
    if status == 204:
        return HttpResponse(status=204)
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def error_response(error: ApiError) -> HttpResponse:
    response = json_response(error.status, error_body(error.code, error.message, error.details))
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="preflight"'
    for name, value in error.headers.items():
        response[name] = value
    return response


def field_name(loc: Sequence[Any]) -> str:
    """pydantic's error location as the field a client sent: ``tags[1]``, ``coverage.percent``,
    ``""`` for the body itself. The source (body, query, path) and, for a body, the view's
    parameter name are dropped."""
    parts = list(loc[2:] if loc and loc[0] == "body" else loc[1:])
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


_NOT_AN_OBJECT = ("missing", "model_type", "model_attributes_type", "dict_type")


def _message(field: str, error: dict[str, Any]) -> str:
    kind = error.get("type")
    if not field and kind in _NOT_AN_OBJECT:
        return "the body must be a JSON object"
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"unknown field {field}"
    text = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{field}: {text}" if field else text


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``[{field, message}]``, one per problem, as the API's own validation always answered."""
    details = []
    for error in errors:
        field = field_name(error.get("loc", ()))
        details.append({"field": field, "message": _message(field, error)})
    return details


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = validation_details(exc.errors)
    message = "The request is not valid: " + "; ".join(d["message"] for d in details)
    return error_response(ApiError(400, "validation_error", message, details))


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ApiError):  # our parser's refusal, wrapped by django-ninja
        return error_response(exc.__cause__)
    if isinstance(exc, AuthenticationError):
        return error_response(
            ApiError(401, "unauthenticated", "Send Authorization: Bearer <token>.")
        )
    if exc.status_code == 400:
        return error_response(ApiError(400, "invalid_json", "The request body is not valid JSON."))
    code = DOMAIN_CODES.get(exc.status_code, "error")
    return error_response(ApiError(exc.status_code, code, str(exc)))


def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(exc)


def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    code = DOMAIN_CODES.get(exc.status, "error")
    return error_response(ApiError(exc.status, code, str(exc), getattr(exc, "details", None)))


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(ApiError(404, "not_found", str(exc) or "Not found."))


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(ApiError(413, "payload_too_large", "The request body is too large."))


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API request %s %s failed", request.method, request.path, exc_info=exc)
    return error_response(ApiError(500, "internal_error", "Something went wrong on our side."))


Handler = Callable[[HttpRequest, Any], HttpResponse]
HANDLERS: tuple[tuple[type[Exception], Handler], ...] = (
    (Exception, _unexpected),
    (ApiError, _api_error),
    (DomainError, _domain_error),
    (ValidationError, _validation),
    (HttpError, _http_error),
    (Http404, _not_found),
    (RequestDataTooBig, _too_big),
)


def install(api: NinjaAPI) -> None:
    """Every exception an operation can raise answers in the error format (django-ninja picks
    the handler of the most specific class)."""
    for exc_class, handler in HANDLERS:
        api.add_exception_handler(exc_class, handler)
