"""The checks app's figures for /metrics, read at scrape time: validation runs by status,
check results of the last 24 h and run/check duration quantiles. Registered at ready()."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from checks.models import CheckResult, ValidationRun


class RunCollector(Collector):
    def collect(self) -> Iterable[Any]:
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


def _durations(since: datetime) -> Iterable[Any]:
    """p50/p95 durations of runs finished and of checks recorded in the last 24 h."""
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
