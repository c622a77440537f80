"""Gate computation: each rule on its own, with the drills vacuous while none is registered
and enforced once one is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks import selectors as checks_selectors
from checks.catalog import REGISTRY
from checks.engine.registry import CheckSpec
from checks.models import CheckResult, ValidationRun
from portal.models import ItemState
from reviews.gate import compute_gate

pytestmark = pytest.mark.django_db


def _rules(service) -> dict[str, tuple[bool, str]]:
    return {r.key: (r.passed, r.reason) for r in compute_gate(service).rules}


def test_a_ready_service_passes_every_rule_and_lists_the_drill_keys(ready_service) -> None:
    gate = compute_gate(ready_service)
    assert gate.passed, gate.as_dict()
    assert [r.key for r in gate.rules] == [
        "blocking_items",
        "no_failing_items",
        "full_run",
        "drills",
    ]
    assert gate.drill_keys == checks_selectors.drill_keys()
    assert gate.as_dict()["drill_keys"] == gate.drill_keys


def test_a_new_service_fails_on_items_and_run(service) -> None:
    rules = _rules(service)
    assert (
        rules["blocking_items"][0] is False
        and "blocking item(s) not done" in rules["blocking_items"][1]
    )
    assert rules["full_run"] == (False, "no full validation run has finished yet")
    assert rules["no_failing_items"][0] is True


def test_a_stale_or_expired_blocking_item_fails_the_gate(ready_service) -> None:
    ItemState.objects.filter(service=ready_service, item_key="security.cors_allowlist").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    passed, reason = _rules(ready_service)["blocking_items"]
    assert not passed and "security.cors_allowlist" in reason
    ItemState.objects.filter(service=ready_service).update(state="done")
    ItemState.objects.filter(service=ready_service, item_key="testing.coverage").update(
        state=ItemState.State.STALE
    )
    assert "testing.coverage" in _rules(ready_service)["blocking_items"][1]


def test_not_applicable_counts_as_done(ready_service) -> None:
    ItemState.objects.filter(service=ready_service, item_key="testing.coverage").update(
        state=ItemState.State.NOT_APPLICABLE, expires_at=None
    )
    assert _rules(ready_service)["blocking_items"][0] is True


def test_a_failing_non_blocking_item_still_fails_the_gate(ready_service) -> None:
    state = ItemState.objects.filter(service=ready_service, item__blocking=False).first()
    assert state is not None
    ItemState.objects.filter(pk=state.pk).update(state=ItemState.State.FAILING)
    rules = _rules(ready_service)
    assert rules["blocking_items"][0] is True
    assert rules["no_failing_items"] == (False, f"failing: {state.item_key}")


def test_the_latest_full_run_must_have_passed_and_be_recent(ready_service, settings) -> None:
    old = ValidationRun.objects.get()
    ValidationRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    assert "older than 7 days" in _rules(ready_service)["full_run"][1]
    settings.PREFLIGHT_GATE_RUN_MAX_AGE_DAYS = 10
    assert _rules(ready_service)["full_run"][0] is True
    failed = ValidationRun.objects.create(
        service=ready_service, status="failed", keys=["x"], complete_selection=True
    )
    assert _rules(ready_service)["full_run"] == (False, f"the latest full run #{failed.pk} failed")


def test_partial_runs_and_reruns_do_not_count_as_full(ready_service) -> None:
    full = ValidationRun.objects.get()
    ValidationRun.objects.create(service=ready_service, status="failed", steps=["smoke"])
    ValidationRun.objects.create(service=ready_service, status="failed", trigger="rerun")
    ValidationRun.objects.create(service=ready_service, status="running")
    ValidationRun.objects.create(service=ready_service, status="failed", keys=["smoke.health"])
    assert _rules(ready_service)["full_run"][1].startswith(f"full run #{full.pk} passed")


def test_drills_are_required_once_registered(ready_service, monkeypatch) -> None:
    spec = CheckSpec(
        key="drill.test_redis", step="nonfunctional", title="t", run=lambda t: None, kind="drill"
    )  # type: ignore[arg-type,return-value]
    monkeypatch.setitem(REGISTRY, spec.key, spec)
    gate = compute_gate(ready_service)
    assert spec.key in gate.drill_keys
    drills = {r.key: r for r in gate.rules}["drills"]
    assert not drills.passed and spec.key in drills.reason
    run = ValidationRun.objects.get()
    result = CheckResult.objects.create(run=run, key=spec.key, status="pass", summary="ok")
    assert compute_gate(ready_service).passed
    CheckResult.objects.filter(pk=result.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert not {r.key: r for r in compute_gate(ready_service).rules}["drills"].passed
