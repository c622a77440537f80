"""Prometheus metrics on a registry owned by one app instance.

A per-app CollectorRegistry (not the global default) lets several instances live in one test
process without "Duplicated timeseries" errors or counters leaking between them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class _Noop:
    """Stands in for the metrics the `metrics_incomplete` flaw leaves out."""

    def labels(self, *args: str, **kwargs: str) -> _Noop:
        return self

    def observe(self, amount: float) -> None:
        pass

    def inc(self, amount: float = 1) -> None:
        pass


class Metrics:
    def __init__(self, *, complete: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "http_requests",
            "HTTP requests by route, method, status and served version",
            ["method", "route", "status", "version"],
            registry=r,
        )
        # Server errors only: 4xx are the client's doing and would make error alerts noisy.
        # Unlabelled so the series exists (at 0) from the start; the per-route, per-status
        # breakdown is in http_requests_total.
        self.errors = Counter("http_errors", "HTTP responses with a 5xx status", registry=r)
        self.rate_limited = Counter(
            "rate_limit_rejections", "Requests refused with 429", ["limit"], registry=r
        )
        for limit in ("login", "otp"):
            self.rate_limited.labels(limit=limit)
        self.latency: Histogram | _Noop
        self.db_latency: Histogram | _Noop
        self.cache_hits: Counter | _Noop
        self.cache_misses: Counter | _Noop
        self.cache_errors: Counter | _Noop
        if complete:
            self.latency = Histogram(
                "http_request_duration_seconds",
                "Request latency",
                ["method", "route"],
                registry=r,
            )
            self.db_latency = Histogram(
                "db_query_duration_seconds",
                "Latency of item store operations",
                ["operation"],
                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
                registry=r,
            )
            self.cache_hits = Counter("cache_hits", "Item cache hits", registry=r)
            self.cache_misses = Counter("cache_misses", "Item cache misses", registry=r)
            self.cache_errors = Counter(
                "cache_errors", "Cache/rate-limit store failures (served degraded)", registry=r
            )
        else:
            self.latency = self.db_latency = _Noop()
            self.cache_hits = self.cache_misses = self.cache_errors = _Noop()

    def observe_request(
        self, method: str, route: str, status: int, version: str, seconds: float
    ) -> None:
        self.latency.labels(method=method, route=route).observe(seconds)
        self.requests.labels(method=method, route=route, status=str(status), version=version).inc()
        if status >= 500:
            self.errors.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
