from __future__ import annotations

from django.db.models import QuerySet

from checks.catalog import REGISTRY
from checks.engine.registry import STEPS
from checks.models import CheckResult, StagingProfile, ValidationRun
from portal.models import Service


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


def profile_of(service: Service) -> StagingProfile | None:
    return StagingProfile.objects.filter(service=service).first()
