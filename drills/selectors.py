"""Reads for the drill pages and the service page's drill panel."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from checks import selectors as checks_selectors
from drills.models import AlertEvent, Drill
from portal.models import Service


def drill_history(service: Service, limit: int = 100) -> QuerySet[Drill]:
    return Drill.objects.filter(service=service).select_related("run")[:limit]


def recent_drills(service: Service, limit: int = 5) -> list[Drill]:
    return list(Drill.objects.filter(service=service).order_by("-id")[:limit])


def recent_alerts(service: Service, limit: int = 5) -> list[AlertEvent]:
    return list(AlertEvent.objects.filter(service=service).order_by("-id")[:limit])


def load_curve(drill: Drill) -> dict[str, Any] | None:
    """The load test's rate and latency over time, for the chart (None for other drills)."""
    return checks_selectors.load_curve(drill.key, drill.evidence)
