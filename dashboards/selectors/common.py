"""Pieces shared by the three dashboards: service states, what is in flight, and the
models of apps that may not be installed (reviews, drills)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Count, F, Model, Q, QuerySet
from django.utils import timezone

from checks.models import ValidationRun
from core.metrics import CACHE_HITS, CACHE_MISSES
from portal.models import AuditEvent, ItemState, Service, TemplateSection
from portal.selectors import Readiness

COMPLETE = (ItemState.State.DONE, ItemState.State.NOT_APPLICABLE)
# The load test whose evidence (rate, latency) the dashboards chart. Which checks are drills,
# and how recent their pass must be, is the checks app's answer (checks.selectors).
LOAD_KEY = "load.target_rps"
# A drill whose "finished" event never came is not shown as in flight for ever.
DRILL_MAX_AGE = timedelta(hours=1)
IN_FLIGHT = (ValidationRun.Status.QUEUED, ValidationRun.Status.RUNNING)

STATES = {
    "ready": "Ready",
    "in_review": "In review",
    "blocked": "Blocked",
    "stale": "Stale",
}
_FROM_READINESS = {
    "ready": "ready",
    "stale": "stale",
    "failing": "blocked",
    "in_progress": "blocked",
}


def dashboard_state(readiness: Readiness, *, in_review: bool) -> str:
    """The one state a dashboard shows for a service, first match wins:

    - ``in_review``: a launch review is open for it (``LaunchReview.status == "requested"``),
      whatever its checklist says: a reviewer is deciding.
    - ``blocked``: portal readiness ``failing`` (an automated check failed an item) or
      ``in_progress`` (some blocking item is neither done nor not applicable): the launch
      gate would refuse it.
    - ``stale``: portal readiness ``stale``: nothing fails, but a done item outlived its
      validity and must be verified again.
    - ``ready``: portal readiness ``ready``: every blocking item complete, none failing or
      stale.
    """
    if in_review:
        return "in_review"
    return _FROM_READINESS[readiness.state]


def optional_model(app_label: str, model_name: str) -> type[Model] | None:
    """A model of an app built alongside this one, or None while it is not installed."""
    if not apps.is_installed(app_label):
        return None
    try:
        return apps.get_model(app_label, model_name)
    except LookupError:
        return None


def launch_review_model() -> type[Model] | None:
    return optional_model("reviews", "LaunchReview")


def services_in_review(service_filter: Q) -> set[int]:
    model = launch_review_model()
    if model is None:
        return set()
    rows = model._default_manager.filter(status="requested").filter(
        _prefixed(service_filter, "service")
    )
    return set(rows.values_list("service_id", flat=True))


def _prefixed(service_filter: Q, prefix: str) -> Q:
    """Re-root a filter on Service (``team_id=…``) onto a relation (``service__team_id=…``)."""
    out = Q()
    out.connector, out.negated = service_filter.connector, service_filter.negated
    children: list[Any] = list(service_filter.children)
    for child in children:
        if isinstance(child, Q):
            out.children.append(_prefixed(child, prefix))
        else:
            name, value = child
            out.children.append((f"{prefix}__{name}", value))
    return out


@dataclass(frozen=True)
class ServiceReadiness:
    service_id: int
    slug: str
    name: str
    tier: int
    team_slug: str
    team_name: str
    readiness: Readiness
    state: str


def readiness_by_service(service_filter: Q) -> list[ServiceReadiness]:
    """Readiness of every non-retired service matching ``service_filter``: one grouped query
    (plus one for open launch reviews), however many services there are."""
    current = Q(item_states__item__template=F("template"))
    blocking = current & Q(item_states__item__blocking=True)
    done = Q(item_states__state__in=COMPLETE)
    rows = (
        Service.objects.exclude(lifecycle=Service.Lifecycle.RETIRED)
        .filter(service_filter)
        .values("id", "slug", "name", "tier", "team__slug", "team__name")
        .annotate(
            n_total=Count("item_states", filter=current),
            n_complete=Count("item_states", filter=current & done),
            n_blocking=Count("item_states", filter=blocking),
            n_blocking_complete=Count("item_states", filter=blocking & done),
            n_failing=Count("item_states", filter=current & Q(item_states__state="failing")),
            n_stale=Count("item_states", filter=current & Q(item_states__state="stale")),
        )
        .order_by("team__name", "name")
    )
    in_review = services_in_review(service_filter)
    out = []
    for row in rows:
        readiness = Readiness(
            total=row["n_total"],
            complete=row["n_complete"],
            blocking_total=row["n_blocking"],
            blocking_complete=row["n_blocking_complete"],
            failing=row["n_failing"],
            stale=row["n_stale"],
        )
        out.append(
            ServiceReadiness(
                service_id=row["id"],
                slug=row["slug"],
                name=row["name"],
                tier=row["tier"],
                team_slug=row["team__slug"],
                team_name=row["team__name"],
                readiness=readiness,
                state=dashboard_state(readiness, in_review=row["id"] in in_review),
            )
        )
    return out


# (team slug, team name, section key, section title, section position, items, complete)
HeatCell = tuple[str, str, str, str, int, int, int]


@dataclass(frozen=True)
class PortfolioReadiness:
    services: list[ServiceReadiness]
    heatmap: list[HeatCell]


def _audit_head() -> str:
    head = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    return head or "empty"


def portfolio_readiness() -> PortfolioReadiness:
    """Every non-retired service's readiness and the teams x sections heatmap, from one
    pass over the item states (grouped by service and section).

    The pass costs tens of milliseconds at a thousand services, so its outcome is cached
    under the head of the audit chain: every change of an item state writes an audit event
    in the same transaction (portal.services), so a new head means new data. The short
    timeout bounds what the head cannot see (a service retired in the admin). Open launch
    reviews are read fresh each time."""
    timeout = getattr(settings, "PREFLIGHT_DASHBOARD_CACHE_S", 30)
    if timeout:
        key = f"dashboards:readiness:{_audit_head()}"
        cached = cache.get(key)
        if cached is None:
            CACHE_MISSES.labels("dashboards").inc()
            cached = _readiness_rows()
            cache.set(key, cached, timeout)
        else:
            CACHE_HITS.labels("dashboards").inc()
        services, heatmap = cast(ReadinessRows, cached)
    else:
        services, heatmap = _readiness_rows()
    in_review = services_in_review(Q())
    out = []
    for sid, slug, name, tier, team_slug, team_name, *counts in services:
        readiness = Readiness(*counts)
        out.append(
            ServiceReadiness(
                service_id=sid,
                slug=slug,
                name=name,
                tier=tier,
                team_slug=team_slug,
                team_name=team_name,
                readiness=readiness,
                state=dashboard_state(readiness, in_review=sid in in_review),
            )
        )
    return PortfolioReadiness(services=out, heatmap=heatmap)


ReadinessRows = tuple[list[tuple[Any, ...]], list[HeatCell]]


def _readiness_rows() -> ReadinessRows:
    active = Service.objects.exclude(lifecycle=Service.Lifecycle.RETIRED)
    services = list(
        active.values_list("id", "slug", "name", "tier", "team__slug", "team__name").order_by(
            "team__name", "name"
        )
    )
    done = Q(state__in=COMPLETE)
    blocking = Q(item__blocking=True)
    groups = (
        ItemState.objects.filter(item__template=F("service__template"), service__in=active)
        .values_list("service_id", "item__section_id")
        .annotate(
            total=Count("id"),
            n_complete=Count("id", filter=done),
            blocking=Count("id", filter=blocking),
            blocking_complete=Count("id", filter=blocking & done),
            failing=Count("id", filter=Q(state=ItemState.State.FAILING)),
            stale=Count("id", filter=Q(state=ItemState.State.STALE)),
        )
        .order_by()
    )
    per_service: dict[int, list[int]] = {}
    team_of = {row[0]: (row[4], row[5]) for row in services}
    cells: dict[tuple[str, str, int], list[int]] = {}
    for service_id, section_id, *counts in _plain_rows(groups):
        sums = per_service.setdefault(service_id, [0] * 6)
        for i, n in enumerate(counts):
            sums[i] += n
        cell = cells.setdefault((*team_of[service_id], section_id), [0, 0])
        cell[0] += counts[0]
        cell[1] += counts[1]
    sections = {
        s.pk: s
        for s in TemplateSection.objects.filter(pk__in={k[2] for k in cells}).only(
            "key", "title", "position"
        )
    }
    merged: dict[tuple[str, str, str], list[Any]] = {}
    for (team_slug, team_name, section_id), (items, complete) in cells.items():
        section = sections[section_id]
        entry = merged.setdefault(
            (team_slug, team_name, section.key), [section.title, section.position, 0, 0]
        )
        entry[1] = min(entry[1], section.position)
        entry[2] += items
        entry[3] += complete
    heatmap = sorted(
        ((t, n, k, title, pos, items, complete) for (t, n, k), (title, pos, items, complete)
         in merged.items()),
        key=lambda c: (c[1], c[4], c[2]),
    )  # fmt: skip
    rows = [(*row, *per_service.get(row[0], [0] * 6)) for row in services]
    return rows, heatmap


def _plain_rows(queryset: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a values_list() query of plain columns and counts, as the database driver
    returns them: Django would pass every value through a converter (an int() per count), a
    third of the cold portfolio pass at a thousand services (~8,000 rows x 6 counts)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class Live:
    """What is moving in a dashboard's scope: runs queued or running, drills started and
    not finished. Nothing moving means the page stops polling."""

    runs: list[dict[str, Any]]
    drills: list[dict[str, Any]]

    @property
    def moving(self) -> bool:
        return bool(self.runs or self.drills)

    @property
    def signature(self) -> str:
        """Changes whenever a live run reports a result: lets a reader (and a test) see that
        a fragment carries new data."""
        return ",".join(f"{r['id']}:{r['status']}:{r['n_results']}" for r in self.runs)


def live(service_filter: Q, *, now: datetime | None = None, limit: int = 20) -> Live:
    now = now or timezone.now()
    runs = list(
        ValidationRun.objects.filter(status__in=IN_FLIGHT)
        .filter(_prefixed(service_filter, "service"))
        .values("id", "status", "keys", "created_at", "service__slug", "service__name")
        .annotate(n_results=Count("results"))
        .order_by("-id")[:limit]
    )
    for run in runs:
        run["n_keys"] = len(run.pop("keys") or [])
    events = (
        AuditEvent.objects.filter(
            action__in=[AuditEvent.Action.DRILL_STARTED, AuditEvent.Action.DRILL_FINISHED],
            created_at__gte=now - DRILL_MAX_AGE,
        )
        .filter(_prefixed(service_filter, "service"))
        .values_list("service_id", "service_slug", "action", "created_at", "payload")
        # created_at order (ties by id) lets the database walk its created_at index.
        .order_by("created_at", "id")
    )
    open_drills: dict[int, dict[str, Any]] = {}
    for service_id, slug, action, at, payload in events:
        if action == AuditEvent.Action.DRILL_STARTED:
            payload = payload if isinstance(payload, dict) else {}
            kind = payload.get("drill") or payload.get("key") or ""
            open_drills[service_id] = {"service__slug": slug, "started_at": at, "drill": kind}
        else:
            open_drills.pop(service_id, None)
    return Live(runs=runs, drills=list(open_drills.values())[:limit])
