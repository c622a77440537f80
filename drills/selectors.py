"""Reads for the drill pages and the service page's drill panel."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

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
    timeline = drill.evidence.get("timeline") if drill.key == "load.target_rps" else None
    if not isinstance(timeline, list) or not timeline:
        return None
    rows = [row for row in timeline if isinstance(row, dict)]
    totals = drill.evidence.get("totals") or {}
    return {
        "t": [row.get("t") for row in rows],
        "rps": [row.get("rps") for row in rows],
        "p50_ms": [row.get("p50_ms") for row in rows],
        "p95_ms": [row.get("p95_ms") for row in rows],
        "errors": [row.get("errors") for row in rows],
        "target_rps": totals.get("target_rps"),
        "offered_rps": totals.get("offered_rps"),
    }


def drill_events(drill: Drill) -> list[dict[str, Any]]:
    return [e for e in drill.timeline if isinstance(e, dict) and "event" in e]
