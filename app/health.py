"""Liveness and readiness. /ready answers within about a second whatever the state of the
database and the broker: each probe runs with its own deadline."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

_PROBE_DEADLINE_S = 0.8
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ready")


def _database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
    # This thread's connection is not reused by requests: close it.
    connections["default"].close()


def _broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()


def _probe(func: Callable[[], None]) -> str:
    future = _pool.submit(func)
    try:
        future.result(timeout=_PROBE_DEADLINE_S)
    except FutureTimeout:
        return "timeout"
    except Exception as exc:  # any failure means "not ready"; the type says why
        return f"down: {type(exc).__name__}"
    return "ok"


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers; touches no downstream."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    checks = {"database": _probe(_database), "broker": _probe(_broker)}
    ok = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
