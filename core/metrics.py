"""Prometheus metrics of the portal, served at /metrics.

Request metrics are counted per process by the middleware. Run, check, drill and queue
figures are read from the database and the broker when Prometheus scrapes, so they are right
whichever process (web, worker, beat) did the work; each app registers its own collector
(``add_collector``) when it is ready."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
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

from core.auth import bearer_matches

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


# Scrape-time collectors of the apps, each registered by its app at ready(): this module
# knows no app's models.
_app_collectors: list[Collector] = []


def add_collector(collector: Collector) -> None:
    """Scrape ``collector`` with the portal's figures (once per collector class)."""
    if not any(type(c) is type(collector) for c in _app_collectors):
        _app_collectors.append(collector)


class PortalCollector(Collector):
    """The apps' figures (validation runs, check results, drills...) and the broker's queue
    depth, read at scrape time."""

    def collect(self) -> Iterable[Any]:
        for collector in _app_collectors:
            yield from collector.collect()
        depth = _queue_depth()
        if depth is not None:
            yield GaugeMetricFamily(
                "preflight_queue_depth", "Messages waiting in the task queue", value=depth
            )


_collector_registered = False


def register_collector() -> None:
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(PortalCollector())
        _collector_registered = True


@login_not_required
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.PREFLIGHT_METRICS_TOKEN
    if token and not bearer_matches(request, token):
        return HttpResponse(status=401)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several gunicorn workers: sum their files, plus the scrape-time figures.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(PortalCollector())
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    register_collector()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
