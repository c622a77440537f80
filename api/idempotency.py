"""Idempotency-Key on POST: the same key with the same body answers the first response again
(``Idempotent-Replayed: true``) and does nothing new; the same key with another body (or
another path) is a 409. Kept per token for PREFLIGHT_IDEMPOTENCY_TTL_HOURS.

It wraps the whole operation (django-ninja's ``decorate_view``), so the first answer is kept
whatever it was — created, or refused by validation or by a service — except a 5xx, after
which a retry with the same key may succeed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from api.auth import authorize
from api.errors import ApiError, error_response, json_response
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_MAX = 200
Run = Callable[..., HttpResponseBase]


def _body(response: HttpResponseBase) -> Any:
    content = getattr(response, "content", b"")
    return json.loads(content) if content else None


def _replay(request: HttpRequest, record: IdempotencyRecord, body_hash: str, path: str):
    if record.body_sha256 != body_hash or record.method_path != path:
        return error_response(
            ApiError(
                409,
                "idempotency_conflict",
                "This Idempotency-Key was used with a different request.",
            )
        )
    if record.status == 0:
        return error_response(
            ApiError(409, "request_in_progress", "The first request is still running.")
        )
    response = json_response(record.status, record.response)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(scope: str) -> Callable[[Run], Run]:
    """For a POST operation whose auth is ``scoped(scope)``: token callers with a key get the
    replay rules; everyone else goes straight through (and meets the usual 401/403)."""

    def decorator(run: Run) -> Run:
        @wraps(run)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            key = request.headers.get(HEADER)
            if request.method != "POST" or not key:
                return run(request, *args, **kwargs)
            try:
                caller = authorize(request, scope)
            except ApiError:
                return run(request, *args, **kwargs)
            if caller.token is None:
                return run(request, *args, **kwargs)
            if len(key) > KEY_MAX:
                return error_response(
                    ApiError(
                        400,
                        "validation_error",
                        f"{HEADER} is longer than {KEY_MAX} characters.",
                        [{"field": HEADER, "message": f"at most {KEY_MAX} characters"}],
                    )
                )
            body_hash = hashlib.sha256(request.body).hexdigest()
            path = f"POST {request.path}"
            now = timezone.now()
            IdempotencyRecord.objects.filter(token=caller.token, expires_at__lte=now).delete()
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        token=caller.token,
                        key=key,
                        method_path=path,
                        body_sha256=body_hash,
                        expires_at=now + timedelta(hours=settings.PREFLIGHT_IDEMPOTENCY_TTL_HOURS),
                    )
            except IntegrityError:
                first = IdempotencyRecord.objects.get(token=caller.token, key=key)
                return _replay(request, first, body_hash, path)
            with transaction.atomic():
                response = run(request, *args, **kwargs)
                if response.status_code < 400:
                    record.status, record.response = response.status_code, _body(response)
                    record.save(update_fields=["status", "response"])
                else:
                    # Nothing the refused request wrote stays (django-ninja turned the
                    # exception into a response inside this block).
                    transaction.set_rollback(True)
            if response.status_code >= 500:
                record.delete()
            elif response.status_code >= 400:
                IdempotencyRecord.objects.filter(pk=record.pk).update(
                    status=response.status_code, response=_body(response)
                )
            return response

        return wrapper

    return decorator
