"""Small, hand-checkable data for the dashboards: runs and results written through the
ORM (the summary follows through its post_save receiver, as in production)."""

from __future__ import annotations

from typing import Any

import pytest

from checks.models import CheckResult, ValidationRun
from portal import services
from portal.models import ChecklistTemplate, ItemState, Service, Team


def make_service(team: Team, template: ChecklistTemplate, slug: str, **extra: Any) -> Service:
    return services.service_create(
        name=slug.title(), slug=slug, team=team, template=template, actor=None, **extra
    )


def make_run(
    service: Service,
    results: dict[str, str],
    *,
    evidence: dict[str, dict[str, Any]] | None = None,
    status: str = "",
) -> ValidationRun:
    """A run with one result per key (status per key); finished unless ``status`` says."""
    values = set(results.values())
    final = "failed" if "fail" in values else "error" if "error" in values else "passed"
    run = ValidationRun.objects.create(service=service, status=status or final, keys=list(results))
    for key, result in results.items():
        CheckResult.objects.create(
            run=run,
            key=key,
            status=result,
            summary=f"{key} {result}",
            evidence=(evidence or {}).get(key, {}),
        )
    return run


def set_states(service: Service, state: str, *, blocking: bool | None = None) -> int:
    rows = ItemState.objects.filter(service=service)
    if blocking is not None:
        rows = rows.filter(item__blocking=blocking)
    return rows.update(state=state)


@pytest.fixture
def payments_services(team: Team, template: ChecklistTemplate) -> list[Service]:
    return [make_service(team, template, "alpha"), make_service(team, template, "beta")]


@pytest.fixture(autouse=True)
def _no_readiness_cache(settings: Any) -> None:
    # Most tests change item states directly (no audit event), which the cache keyed on the
    # audit head would not see; the cache has its own test.
    settings.PREFLIGHT_DASHBOARD_CACHE_S = 0
