"""The drills app's figures for /metrics, read at scrape time. Registered at ready()."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from drills.models import Drill


class DrillCollector(Collector):
    def collect(self) -> Iterable[Any]:
        drills = GaugeMetricFamily("preflight_drills", "Drills by status", labels=["status"])
        for row in Drill.objects.values("status").annotate(n=Count("id")):
            drills.add_metric([row["status"]], row["n"])
        yield drills
