"""Prometheus metrics of the portal, served at /metrics.

Request metrics are counted per process by the middleware. Run, check and queue figures are
read from the database and the broker when Prometheus scrapes, so they are right whichever
process (web, worker, beat) did the work."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REQUEST_LATENCY = Histogram(
    "preflight_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUESTS = Counter("preflight_http_requests_total", "HTTP requests answered", ["method", "status"])
ERRORS = Counter("preflight_http_errors_total", "HTTP requests answered with a 5xx")
CACHE_HITS = Counter("preflight_cache_hits_total", "Cache lookups answered", ["cache"])
CACHE_MISSES = Counter("preflight_cache_misses_total", "Cache lookups recomputed", ["cache"])
# Exported from the start (at 0), not only after the first lookup: a scrape of a fresh
# process must already show the hit/miss series that dashboards and alerts divide.
for _counter in (CACHE_HITS, CACHE_MISSES):
    _counter.labels("dashboards")


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None else "unmatched"


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_LATENCY.labels(request.method, _route(request)).observe(
            time.perf_counter() - started
        )
        REQUESTS.labels(request.method, str(response.status_code)).inc()
        if response.status_code >= 500:
            ERRORS.inc()
        return response


def _queue_depth() -> float | None:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        return None
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)
        return float(client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))
    except (redis.RedisError, OSError):
        return None


class PortalCollector(Collector):
    """Validation runs by status, queued runs, check results by status (last 24 h) and the
    broker's queue depth, read at scrape time."""

    def collect(self) -> Iterable[Any]:
        from datetime import timedelta

        from django.utils import timezone

        from checks.models import CheckResult, ValidationRun

        runs = GaugeMetricFamily(
            "preflight_validation_runs", "Validation runs by status", labels=["status"]
        )
        for row in ValidationRun.objects.values("status").annotate(n=Count("id")):
            runs.add_metric([row["status"]], row["n"])
        yield runs
        since = timezone.now() - timedelta(days=1)
        results = GaugeMetricFamily(
            "preflight_check_results_24h", "Check results of the last 24 h", labels=["status"]
        )
        recent = CheckResult.objects.filter(created_at__gte=since)
        for row in recent.values("status").annotate(n=Count("id")):
            results.add_metric([row["status"]], row["n"])
        yield results
        yield from _durations(since)
        drills = GaugeMetricFamily("preflight_drills", "Drills by status", labels=["status"])
        from drills.models import Drill

        for row in Drill.objects.values("status").annotate(n=Count("id")):
            drills.add_metric([row["status"]], row["n"])
        yield drills
        depth = _queue_depth()
        if depth is not None:
            yield GaugeMetricFamily(
                "preflight_queue_depth", "Messages waiting in the task queue", value=depth
            )


def _durations(since: Any) -> Iterable[Any]:
    """p50/p95 durations of runs finished and of checks recorded in the last 24 h."""
    from checks.models import CheckResult, ValidationRun

    runs = ValidationRun.objects.filter(finished_at__gte=since, started_at__isnull=False)
    run_s = sorted(
        (f - s).total_seconds()
        for s, f in runs.order_by("-id").values_list("started_at", "finished_at")[:500]
        if s is not None and f is not None
    )
    check_s = sorted(
        ms / 1000
        for ms in CheckResult.objects.filter(created_at__gte=since)
        .order_by("-id")
        .values_list("duration_ms", flat=True)[:2000]
    )
    for name, values in (("validation_run", run_s), ("check", check_s)):
        family = GaugeMetricFamily(
            f"preflight_{name}_duration_seconds",
            f"{name.replace('_', ' ')} durations of the last 24 h (latest 500/2000)",
            labels=["quantile"],
        )
        for q in (0.5, 0.95):
            family.add_metric([str(q)], values[int(q * (len(values) - 1))] if values else 0.0)
        yield family


_collector_registered = False


def register_collector() -> None:
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(PortalCollector())
        _collector_registered = True


@login_not_required
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.PREFLIGHT_METRICS_TOKEN
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        return HttpResponse(status=401)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several gunicorn workers: sum their files, plus the scrape-time figures.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(PortalCollector())
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    register_collector()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
