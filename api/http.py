"""The API's HTTP rules in one place: bearer-token or session authentication with scopes,
the error format, X-Request-ID, Idempotency-Key on POST, method dispatch (405) and cursor
pagination. Views stay plain functions that return ``(status, body)``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from api import services
from api.models import ApiToken, IdempotencyRecord
from core.errors import DomainError

log = logging.getLogger(__name__)

Body = dict[str, Any]
Result = tuple[int, Body]

_DOMAIN_CODES = {400: "validation_error", 403: "forbidden", 404: "not_found", 409: "conflict"}
SAFE_METHODS = ("GET", "HEAD")


class ApiError(Exception):
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


@dataclass
class Caller:
    """Who is calling: a token (with its scopes) or a signed-in browser user (read only)."""

    token: ApiToken | None
    user: Any
    scopes: set[str] = field(default_factory=set)

    def require_team(self, team_id: int) -> None:
        """Write scopes of a team-bound token stop at that team's services."""
        if self.token is not None and self.token.team_id not in (None, team_id):
            raise ApiError(403, "forbidden", "This token is limited to another team's services.")


Handler = Callable[..., Result]


def error_body(code: str, message: str, details: Any = None) -> Body:
    return {"error": {"code": code, "message": message, "details": details}}


def _request_id(request: HttpRequest) -> str:
    rid = getattr(request, "request_id", "") or request.headers.get("X-Request-ID", "")
    return rid if rid and len(rid) <= 128 and rid.isprintable() else uuid.uuid4().hex


def _json(request: HttpRequest, status: int, body: Body) -> HttpResponse:
    # 204 has no body by definition: bytes after the headers would corrupt a kept-alive
    # connection for the client's next request.
    response = HttpResponse(status=204) if status == 204 else JsonResponse(body, status=status)
    response["X-Request-ID"] = _request_id(request)
    response["Cache-Control"] = "no-store"
    return response


def error(request: HttpRequest, status: int, code: str, message: str, details: Any = None):
    response = _json(request, status, error_body(code, message, details))
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="preflight"'
    return response


def _authenticate(request: HttpRequest) -> Caller:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        token = services.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise ApiError(401, "invalid_token", "The bearer token is missing, unknown or revoked.")
        return Caller(token=token, user=None, scopes=set(token.scopes))
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if request.method not in SAFE_METHODS and _csrf_refused(request):
            raise ApiError(403, "csrf_failed", "CSRF verification failed for this session.")
        # A browser session may read; writes need a token with the scope.
        return Caller(token=None, user=user, scopes={ApiToken.Scope.READ})
    raise ApiError(401, "unauthenticated", "Send Authorization: Bearer <token>.")


def _csrf_refused(request: HttpRequest) -> bool:
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    check.process_request(request)
    return check.process_view(request, None, (), {}) is not None  # type: ignore[arg-type]


def parse_json(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None


def route(handlers: dict[str, tuple[str | None, Handler]]) -> Callable[..., HttpResponse]:
    """One URL, its methods, each with the scope it needs (None: public)."""
    allowed = sorted(handlers) + (["HEAD"] if "GET" in handlers else [])

    @csrf_exempt  # only bearer requests skip CSRF: session writes are checked in _authenticate
    @login_not_required  # the API answers 401 in its own format instead of a login redirect
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        method = "GET" if request.method == "HEAD" else str(request.method)
        if method not in handlers:
            response = error(
                request, 405, "method_not_allowed", f"{request.method} is not allowed here."
            )
            response["Allow"] = ", ".join(allowed)
            return response
        scope, handler = handlers[method]
        try:
            caller = _authenticate(request) if scope is not None else Caller(None, None)
            if scope is not None and scope not in caller.scopes:
                raise ApiError(403, "insufficient_scope", f"This needs the {scope} scope.")
            if method == "POST" and caller.token and request.headers.get("Idempotency-Key"):
                return _idempotent(request, caller, handler, kwargs)
            status, body = _call(handler, request, caller, kwargs)
        except ApiError as exc:
            response = error(request, exc.status, exc.code, exc.message, exc.details)
            for name, value in exc.headers.items():
                response[name] = value
            return response
        return _json(request, status, body)

    return view


def _call(handler: Handler, request: HttpRequest, caller: Caller, kwargs: Any) -> Result:
    try:
        return handler(request, caller, **kwargs)
    except ApiError:
        raise
    except DomainError as exc:
        code = _DOMAIN_CODES.get(exc.status, "error")
        raise ApiError(exc.status, code, str(exc), getattr(exc, "details", None)) from None
    except Http404 as exc:
        raise ApiError(404, "not_found", str(exc) or "Not found.") from None
    except RequestDataTooBig:
        raise ApiError(413, "payload_too_large", "The request body is too large.") from None
    except Exception:
        log.exception("API handler %s failed", getattr(handler, "__name__", handler))
        raise ApiError(500, "internal_error", "Something went wrong on our side.") from None


def _idempotent(request: HttpRequest, caller: Caller, handler: Handler, kwargs: Any):
    """Same key + same body: the first response again, nothing new. Different body: 409."""
    assert caller.token is not None
    key = request.headers["Idempotency-Key"]
    if len(key) > 200:
        raise ApiError(400, "validation_error", "Idempotency-Key is longer than 200 characters.")
    body_hash = hashlib.sha256(request.body).hexdigest()
    method_path = f"POST {request.path}"
    now = timezone.now()
    IdempotencyRecord.objects.filter(token=caller.token, expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                token=caller.token,
                key=key,
                method_path=method_path,
                body_sha256=body_hash,
                expires_at=now + timedelta(hours=settings.PREFLIGHT_IDEMPOTENCY_TTL_HOURS),
            )
    except IntegrityError:
        first = IdempotencyRecord.objects.get(token=caller.token, key=key)
        if first.body_sha256 != body_hash or first.method_path != method_path:
            raise ApiError(
                409,
                "idempotency_conflict",
                "This Idempotency-Key was used with a different request.",
            ) from None
        if first.status == 0:
            raise ApiError(
                409, "request_in_progress", "The first request is still running."
            ) from None
        response = _json(request, first.status, first.response or {})
        response["Idempotent-Replayed"] = "true"
        return response
    try:
        with transaction.atomic():
            status, body = _call(handler, request, caller, kwargs)
            record.status, record.response = status, body
            record.save(update_fields=["status", "response"])
    except ApiError as exc:
        if exc.status >= 500:
            record.delete()  # a retry with the same key may then succeed
            raise
        body = error_body(exc.code, exc.message, exc.details)
        IdempotencyRecord.objects.filter(pk=record.pk).update(status=exc.status, response=body)
        return error(request, exc.status, exc.code, exc.message, exc.details)
    return _json(request, status, body)


# --- cursor pagination ----------------------------------------------------------------------

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "validation_error", f"limit is an integer from 1 to {MAX_LIMIT}.")
    return int(raw)


def encode_cursor(created: datetime, pk: int) -> str:
    raw = json.dumps([created.isoformat(), pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, pk = json.loads(raw)
        created = datetime.fromisoformat(stamp)
        if created.tzinfo is None or not isinstance(pk, int):
            raise ValueError
        return created, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API issued.") from None


def paginate(
    request: HttpRequest,
    queryset: QuerySet[Any],
    serialize: Callable[[Any], Body],
    *,
    field: str = "created_at",
) -> Body:
    """Keyset pagination on (field, id), ascending: stable under inserts."""
    limit = _limit(request)
    qs = queryset.order_by(field, "pk")
    cursor = request.GET.get("cursor")
    if cursor:
        created, pk = decode_cursor(cursor)
        qs = qs.filter(Q(**{f"{field}__gt": created}) | Q(**{field: created, "pk__gt": pk}))
    rows: list[Model] = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {
        "items": [serialize(row) for row in rows],
        "next_cursor": encode_cursor(getattr(last, field), last.pk) if more and last else None,
    }


@csrf_exempt
@login_not_required
def unknown_route(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Every path under /api/ that no route matches, whatever the method."""
    return error(request, 404, "not_found", f"No API route matches {request.path}.")
