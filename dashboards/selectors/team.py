"""The team dashboard: the team's services side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Count, F, Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from checks.models import CheckResult, ValidationRun
from checks.selectors import drill_keys, drill_window
from dashboards.models import CheckStatus
from dashboards.selectors.common import (
    COMPLETE,
    LOAD_KEY,
    readiness_by_service,
)
from dashboards.tables import Table
from portal.models import ItemState, Service, Team


def services_side_by_side(team: Team) -> Table:
    """One row per service of the team: state, readiness, failing checks, last run, drills
    passed within the drill window, latest load-test p95. Six queries whatever the team's
    size."""
    scope = Q(team_id=team.pk)
    services = readiness_by_service(scope)
    ids = [s.service_id for s in services]
    since = timezone.now() - drill_window()
    checks = {
        r["service_id"]: r
        for r in CheckStatus.objects.filter(service_id__in=ids)
        .values("service_id")
        .annotate(
            failing=Count("id", filter=Q(status="fail")),
            drills_ok=Count("id", filter=Q(key__in=drill_keys(), last_pass_at__gte=since)),
        )
    }
    last_runs: dict[int, dict[str, Any]] = {
        r["service_id"]: dict(r)
        for r in ValidationRun.objects.filter(
            id__in=ValidationRun.objects.filter(service_id__in=ids)
            .values("service_id")
            .annotate(last=Max("id"))
            .values("last")
        ).values("service_id", "status", "created_at")
    }
    p95: dict[int, Any] = {}
    latest_load = CheckStatus.objects.filter(service_id__in=ids, key=LOAD_KEY).values("result_id")
    for service_id, evidence in CheckResult.objects.filter(id__in=latest_load).values_list(
        "run__service_id", "evidence"
    ):
        totals = evidence.get("totals") if isinstance(evidence, dict) else None
        totals = totals if isinstance(totals, dict) else {}
        p95[service_id] = totals.get("p95_ms")
    table = Table(
        "services",
        f"{team.name}: services side by side",
        [
            "service",
            "service_name",
            "tier",
            "state",
            "blocking_pct",
            "all_pct",
            "failing_checks",
            "last_run_status",
            "last_run_at",
            "drills_passed_30d",
            "load_p95_ms",
        ],
    )
    for s in services:
        c = checks.get(s.service_id, {})
        run: dict[str, Any] = last_runs.get(s.service_id, {})
        table.rows.append(
            (
                s.slug,
                s.name,
                s.tier,
                s.state,
                s.readiness.pct_blocking,
                s.readiness.pct_all,
                c.get("failing", 0),
                run.get("status"),
                run.get("created_at"),
                c.get("drills_ok", 0),
                p95.get(s.service_id),
            )
        )
    return table


def section_heatmap(team: Team) -> Table:
    """The team's services x checklist sections: share of items complete."""
    rows = (
        ItemState.objects.filter(service__team=team, item__template=F("service__template"))
        .exclude(service__lifecycle=Service.Lifecycle.RETIRED)
        .values("service__slug", "item__section__key")
        .annotate(
            title=Min("item__section__title"),
            position=Min("item__section__position"),
            items=Count("id"),
            n_complete=Count("id", filter=Q(state__in=COMPLETE)),
        )
        .order_by("service__slug", "position")
    )
    return Table(
        "sections",
        f"{team.name}: readiness by service and section",
        ["service", "section", "section_title", "items", "complete", "pct", "url"],
        [
            (
                r["service__slug"],
                r["item__section__key"],
                r["title"],
                r["items"],
                r["n_complete"],
                round(100 * r["n_complete"] / r["items"]) if r["items"] else 100,
                reverse("dashboards:service", args=[r["service__slug"]]),
            )
            for r in rows
        ],
    )


TABLES: dict[str, Callable[[Team], Table]] = {
    "services": services_side_by_side,
    "sections": section_heatmap,
}
