"""The service dashboard: one service's history. Every query is bounded by the service
(its own audit events, its last runs), so the page costs the same with 5 or 1,000 services."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from django.db.models import Model
from django.utils import timezone

from checks.models import CheckResult, ValidationRun
from checks.selectors import drill_keys
from dashboards.selectors.common import LOAD_KEY, optional_model
from dashboards.tables import Table
from portal.models import AuditEvent, Service, TemplateItem

RUNS_SHOWN = 40
POINTS_SHOWN = 100
RUNS_SCANNED = 400
ALERTS_SHOWN = 20
COMPLETE = {"done", "na"}


Point = tuple[date, int, int, int, int, int, int]


def replay(
    items: dict[str, bool],
    events: Iterable[tuple[datetime, str, str]],
    *,
    start: date,
    today: date,
) -> list[Point]:
    """Readiness per day from item transitions. ``items`` maps the current template's item
    keys to "blocking?"; each starts open on ``start``; ``events`` are (when, item key, new
    state) in the order they happened (keys outside the template are ignored). One point per
    day with changes (the day's last state), plus ``start`` and ``today``: (day, complete,
    total, pct, blocking complete, blocking total, blocking pct)."""
    state = dict.fromkeys(items, "open")
    blocking_total = sum(1 for b in items.values() if b)

    def point(day: date) -> Point:
        done = sum(1 for v in state.values() if v in COMPLETE)
        bdone = sum(1 for k, v in state.items() if v in COMPLETE and items[k])
        return (
            day,
            done,
            len(items),
            round(100 * done / len(items)) if items else 100,
            bdone,
            blocking_total,
            round(100 * bdone / blocking_total) if blocking_total else 100,
        )

    by_day = {start: point(start)}
    for at, key, to_state in events:
        if key in state:
            state[key] = to_state
            day = timezone.localdate(at)
            by_day[day] = point(day)
    by_day[today] = point(today)
    return [by_day[day] for day in sorted(by_day)]


def readiness_history(service: Service, *, now: datetime | None = None) -> Table:
    """Readiness over time, replayed from the service's audit history (ticks, n/a, reopen,
    stale, verified, failed) against its current template's items."""
    items = dict(
        TemplateItem.objects.filter(template_id=service.template_id).values_list("key", "blocking")
    )
    events = (
        AuditEvent.objects.filter(service=service)
        .exclude(to_state="")
        .values_list("created_at", "item_key", "to_state")
        .order_by("id")
    )
    return Table(
        "readiness_history",
        "Readiness over time (from the audit history)",
        ["day", "complete", "total", "pct", "blocking_complete", "blocking_total", "blocking_pct"],
        replay(
            items,
            events,
            start=timezone.localdate(service.created_at),
            today=timezone.localdate(now or timezone.now()),
        ),
    )


def _recent_runs(service: Service) -> list[tuple[int, datetime, str]]:
    return list(
        ValidationRun.objects.filter(service=service)
        .order_by("-id")
        .values_list("id", "created_at", "status")[:RUNS_SHOWN]
    )[::-1]


def check_timeline(service: Service) -> Table:
    """Each check key x each of the last runs: the result's status."""
    runs = _recent_runs(service)
    table = Table(
        "check_timeline",
        f"Check results of the last {RUNS_SHOWN} runs",
        ["run", "run_created_at", "run_status", "key", "status"],
    )
    if not runs:
        return table
    meta = {run_id: (at, status) for run_id, at, status in runs}
    results = (
        CheckResult.objects.filter(run_id__in=list(meta))
        .values_list("run_id", "key", "status")
        .order_by("run_id", "key")
    )
    for run_id, key, status in results:
        at, run_status = meta[run_id]
        table.rows.append((run_id, at, run_status, key, status))
    return table


def _results(service: Service, keys: list[str]) -> list[dict[str, Any]]:
    # Through the service's latest runs, so the (run, key) index answers, not (key, status).
    runs = ValidationRun.objects.filter(service=service).order_by("-id").values("id")
    rows = (
        CheckResult.objects.filter(run_id__in=runs[:RUNS_SCANNED], key__in=keys)
        .order_by("-id")
        .values("run_id", "created_at", "key", "status", "evidence")[:POINTS_SHOWN]
    )
    return [dict(r) for r in rows][::-1]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def load_history(service: Service) -> Table:
    """Achieved rate and latency percentiles of the load test (``load.target_rps``) per run."""
    columns = ["requests", "failures", "target_rps", "offered_rps", "rps", "p50_ms", "p95_ms"]
    table = Table(
        "load",
        "Load tests: achieved rate and latency percentiles",
        ["run", "at", "status", *columns, "p99_ms"],
    )
    for r in _results(service, [LOAD_KEY]):
        evidence = r["evidence"] if isinstance(r["evidence"], dict) else {}
        totals = evidence.get("totals")
        if not isinstance(totals, dict):
            continue  # skipped or errored before any load was offered: nothing to plot
        values = [_num(totals.get(c)) for c in [*columns, "p99_ms"]]
        table.rows.append((r["run_id"], r["created_at"], r["status"], *values))
    return table


DRILL_FIELDS = [
    "flip_s",
    "recovery_s",
    "time_to_alert_s",
    "time_to_resolve_s",
    "canary_share",
    "rollback_s",
]


def drill_history(service: Service) -> Table:
    """Every drill result: readiness flip and recovery (db), time to alert and to resolve,
    canary share and rollback time, as the drill checks report them in their evidence."""
    table = Table(
        "drills",
        "Drill history",
        ["run", "at", "key", "status", *DRILL_FIELDS],
    )
    for r in _results(service, drill_keys()):
        evidence = r["evidence"] if isinstance(r["evidence"], dict) else {}
        table.rows.append(
            (
                r["run_id"],
                r["created_at"],
                r["key"],
                r["status"],
                *[_num(evidence.get(f)) for f in DRILL_FIELDS],
            )
        )
    return table


def _alert_model() -> type[Model] | None:
    return optional_model("drills", "AlertEvent")


def recent_alerts(service: Service) -> Table:
    """The service's latest alerts as received from Alertmanager (drills.AlertEvent). The
    model belongs to another app: its scalar fields are shown as they are."""
    model = _alert_model()
    if model is None:
        return Table(
            "alerts",
            "Recent alerts",
            ["id"],
            note="Alert events are not installed yet: no alerts to show.",
        )
    fields = [
        f
        for f in model._meta.concrete_fields
        if not f.is_relation and f.get_internal_type() not in ("JSONField", "TextField")
    ]
    names = {f.name for f in model._meta.get_fields()}
    qs = model._default_manager.all()
    if "service" in names:
        qs = qs.filter(service=service)
    rows = qs.order_by("-pk").values_list(*[f.attname for f in fields])[:ALERTS_SHOWN]
    return Table("alerts", "Recent alerts", [f.name for f in fields], list(rows))


TABLES: dict[str, Callable[[Service], Table]] = {
    "readiness_history": readiness_history,
    "check_timeline": check_timeline,
    "load": load_history,
    "drills": drill_history,
    "alerts": recent_alerts,
}
