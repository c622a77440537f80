"""The portfolio dashboard: every team and service at once, their levels and scores. Each
table is one or two grouped queries; none loops over services in Python against the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from checks.selectors import drill_keys, drill_window
from dashboards.models import CheckStatus
from dashboards.selectors.common import (
    STATES,
    PortfolioReadiness,
    launch_review_model,
    portfolio_readiness,
)
from dashboards.selectors.levels import (
    campaigns_table,
    level_rows,
    levels_by_team,
    service_levels_table,
)
from dashboards.tables import Table
from portal.models import Service

TOP = 15
OVERDUE_LIST = 50


def readiness_heatmap(readiness: PortfolioReadiness | None = None) -> Table:
    """Teams x checklist sections: share of the section's items (current template version,
    non-retired services) that are done or not applicable."""
    table = Table(
        "heatmap",
        "Readiness by team and checklist section",
        ["team", "team_name", "section", "section_title", "items", "complete", "pct", "url"],
    )
    base = reverse("portal:service-list")
    cells = (readiness or portfolio_readiness()).heatmap
    for team, team_name, section, title, _pos, items, complete in cells:
        table.rows.append(
            (
                team,
                team_name,
                section,
                title,
                items,
                complete,
                round(100 * complete / items) if items else 100,
                f"{base}?team={team}&section={section}",
            )
        )
    return table


def services_by_state(readiness: PortfolioReadiness | None = None) -> Table:
    """Per team, how many services are in each dashboard state (see
    :func:`dashboards.selectors.common.dashboard_state` for the definitions)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for s in (readiness or portfolio_readiness()).services:
        counts[(s.team_slug, s.team_name, s.state)] += 1
    table = Table("states", "Services by state", ["team", "team_name", "state", "services"])
    teams = sorted({(slug, name) for slug, name, _ in counts}, key=lambda t: t[1])
    for slug, name in teams:
        for state in STATES:
            table.rows.append((slug, name, state, counts[(slug, name, state)]))
    return table


def launches_in_flight(limit: int = 50) -> Table:
    table = Table(
        "launches",
        "Launches in flight (review requested)",
        ["service", "service_name", "team", "requested_at", "waiting_days"],
    )
    model = launch_review_model()
    if model is None:
        table.note = "Launch reviews are not installed yet: no launches to show."
        return table
    now = timezone.now()
    rows = (
        model._default_manager.filter(status="requested")
        .values_list("service__slug", "service__name", "service__team__slug", "requested_at")
        .order_by("requested_at")[:limit]
    )
    for slug, name, team, at in rows:
        waiting = round((now - at).total_seconds() / 86400, 1) if at else None
        table.rows.append((slug, name, team, at, waiting))
    return table


def failing_checks(limit: int = TOP) -> Table:
    """Check keys by how many services' latest result for them is a fail (errors beside)."""
    rows = (
        CheckStatus.objects.filter(status__in=["fail", "error"])
        .exclude(service__lifecycle=Service.Lifecycle.RETIRED)
        .values("key")
        .annotate(
            failing=Count("id", filter=Q(status="fail")),
            erroring=Count("id", filter=Q(status="error")),
        )
        .order_by("-failing", "-erroring", "key")[:limit]
    )
    return Table(
        "failing_checks",
        "Failing checks across services (latest result per service)",
        ["key", "failing_services", "erroring_services"],
        [(r["key"], r["failing"], r["erroring"]) for r in rows],
    )


def top_offenders(limit: int = TOP) -> Table:
    """Services with the most checks whose latest result is a fail."""
    rows = (
        CheckStatus.objects.filter(status="fail")
        .exclude(service__lifecycle=Service.Lifecycle.RETIRED)
        .values("service__slug", "service__name", "service__team__slug")
        .annotate(failing=Count("id"))
        .order_by("-failing", "service__slug")[:limit]
    )
    return Table(
        "offenders",
        "Top offenders: services with the most failing checks",
        ["service", "service_name", "team", "failing_checks"],
        [
            (r["service__slug"], r["service__name"], r["service__team__slug"], r["failing"])
            for r in rows
        ],
    )


def _since(now: datetime | None) -> datetime:
    return (now or timezone.now()) - drill_window()


def drills_overdue(now: datetime | None = None) -> Table:
    """Per drill key, how many non-retired services have no passing result within the drill
    window (PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS, as the launch gate)."""
    since = _since(now)
    keys = drill_keys()
    active = Service.objects.exclude(lifecycle=Service.Lifecycle.RETIRED)
    total = active.count()
    passing = dict(
        CheckStatus.objects.filter(key__in=keys, last_pass_at__gte=since)
        .exclude(service__lifecycle=Service.Lifecycle.RETIRED)
        .values("key")
        .annotate(n=Count("id"))
        .values_list("key", "n")
    )
    return Table(
        "drills_overdue",
        f"Drills overdue (no passing result within {drill_window().days} days)",
        ["key", "overdue_services", "passing_services"],
        [(key, total - passing.get(key, 0), passing.get(key, 0)) for key in keys],
    )


def overdue_services(now: datetime | None = None, limit: int = OVERDUE_LIST) -> Table:
    """Services with at least one overdue drill, tier 1 first; the last pass of each drill."""
    since = _since(now)
    keys = drill_keys()
    up_to_date = (
        CheckStatus.objects.filter(key__in=keys, last_pass_at__gte=since)
        .values("service_id")
        .annotate(n=Count("id"))
        .filter(n=len(keys))
        .values("service_id")
    )
    services = list(
        Service.objects.exclude(lifecycle=Service.Lifecycle.RETIRED)
        .exclude(id__in=up_to_date)
        .values_list("id", "slug", "name", "team__slug", "tier")
        .order_by("tier", "slug")[:limit]
    )
    passes = {
        (service_id, key): at
        for service_id, key, at in CheckStatus.objects.filter(
            service_id__in=[s[0] for s in services], key__in=keys
        ).values_list("service_id", "key", "last_pass_at")
    }
    table = Table(
        "overdue_services",
        f"Services with overdue drills (first {limit})",
        ["service", "service_name", "team", "tier", *[f"last_pass:{k}" for k in keys]],
    )
    for service_id, *rest in services:
        table.rows.append((*rest, *[passes.get((service_id, k)) for k in keys]))
    return table


TABLES: dict[str, Callable[[], Table]] = {
    "heatmap": readiness_heatmap,
    "states": services_by_state,
    "launches": launches_in_flight,
    "failing_checks": failing_checks,
    "offenders": top_offenders,
    "drills_overdue": drills_overdue,
    "overdue_services": overdue_services,
    "levels": levels_by_team,
    "service_levels": service_levels_table,
    "campaigns": campaigns_table,
}


def tables() -> dict[str, Table]:
    """Every table of the page; the readiness pass is shared by the two that need it."""
    readiness = portfolio_readiness()
    levels = level_rows()
    shared = ("heatmap", "states", "levels", "service_levels", "campaigns")
    out = {name: build() for name, build in TABLES.items() if name not in shared}
    return {
        "heatmap": readiness_heatmap(readiness),
        "states": services_by_state(readiness),
        "levels": levels_by_team(levels),
        "service_levels": service_levels_table(levels),
        "campaigns": campaigns_table(levels),
        **out,
    }
