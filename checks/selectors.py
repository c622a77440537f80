from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from checks.catalog import REGISTRY
from checks.engine import DestinationPolicy
from checks.engine.registry import STEPS
from checks.models import CheckResult, DiscoveryJob, StagingProfile, ValidationRun
from portal.models import ChecklistTemplate, Membership, Service, Team
from portal.templates_io import DEFAULT_TEMPLATE

DEFAULT_TEMPLATE_KEY = DEFAULT_TEMPLATE.parent.name  # checklists/<key>/vN.toml


def outbound_policy() -> DestinationPolicy:
    """Where checks, hooks, webhooks and the remote launch gate may send requests (the
    guarded client enforces it): the deployment's allowlist."""
    return DestinationPolicy(
        allow=settings.PREFLIGHT_OUTBOUND_ALLOWLIST,
        allow_local_repos=settings.PREFLIGHT_ALLOW_LOCAL_REPOS,
    )


def recent_runs(service: Service, limit: int = 5) -> list[ValidationRun]:
    return list(ValidationRun.objects.filter(service=service).order_by("-id")[:limit])


def run_history(service: Service, limit: int = 100) -> QuerySet[ValidationRun]:
    return ValidationRun.objects.filter(service=service).select_related("triggered_by")[:limit]


def run_results(run: ValidationRun) -> list[CheckResult]:
    return list(run.results.order_by("id"))


def available_steps() -> list[tuple[str, int]]:
    """Steps that have at least one registered check, with how many."""
    counts = {step: 0 for step in STEPS}
    for spec in REGISTRY.values():
        counts[spec.step] += 1
    return [(step, n) for step, n in counts.items() if n]


def keys_of_kind(kind: str) -> list[str]:
    """Registered check keys of one kind (CheckSpec.kind), in registry order."""
    return [key for key, spec in REGISTRY.items() if spec.kind == kind]


def drill_keys() -> list[str]:
    """The drills: the checks that disturb the service on purpose (load, outages, alerts, a
    canary). The launch gate requires each to have passed within ``drill_window()``."""
    return keys_of_kind("drill")


def drill_window() -> timedelta:
    """How recent a drill's pass must be (PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS)."""
    return timedelta(days=settings.PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS)


def load_curve(key: str, evidence: Any) -> dict[str, Any] | None:
    """A load test's rate and latency over time, for the chart (None for other checks).
    The per-second samples are evidence key ``samples`` (check-catalog.md)."""
    samples = evidence.get("samples") if isinstance(evidence, dict) else None
    if key != "load.target_rps" or not isinstance(samples, list) or not samples:
        return None
    rows = [row for row in samples if isinstance(row, dict)]
    totals = evidence.get("totals") or {}
    return {
        "t": [row.get("t") for row in rows],
        "rps": [row.get("rps") for row in rows],
        "p50_ms": [row.get("p50_ms") for row in rows],
        "p95_ms": [row.get("p95_ms") for row in rows],
        "errors": [row.get("errors") for row in rows],
        "target_rps": totals.get("target_rps"),
        "offered_rps": totals.get("offered_rps"),
    }


def run_load_curve(run: ValidationRun) -> dict[str, Any] | None:
    result = run.results.filter(key="load.target_rps").first()
    return load_curve(result.key, result.evidence) if result else None


def profile_of(service: Service) -> StagingProfile | None:
    return StagingProfile.objects.filter(service=service).first()


# --- adding a service from its staging URL ---------------------------------------------------


def teams_for_new_service(user: Any) -> QuerySet[Team]:
    """The teams ``user`` may add a service to: the teams they belong to (their leads)."""
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user_id=user.pk).distinct().order_by("name")


def can_add_service_to(user: Any, team: Team) -> bool:
    return bool(user.is_authenticated) and (
        Membership.objects.filter(user_id=user.pk, team_id=team.pk).exists()
    )


def newest_templates() -> list[ChecklistTemplate]:
    """The newest version of each checklist template, the default template's first."""
    newest: dict[str, ChecklistTemplate] = {}
    for template in ChecklistTemplate.objects.order_by("key", "-version"):
        newest.setdefault(template.key, template)
    return sorted(newest.values(), key=lambda t: (t.key != DEFAULT_TEMPLATE_KEY, t.key))


def discovery_of(job_id: int) -> DiscoveryJob | None:
    jobs = DiscoveryJob.objects.select_related("team", "template", "service")
    return jobs.filter(pk=job_id).first()
