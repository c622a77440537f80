"""Gate computation: each rule on its own, what each finds (items, checks, the run), skipped
checks that verify blocking items with the setting each needs, the drills vacuous while none
is registered and enforced once one is, and which findings an exemption covers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks import selectors as checks_selectors
from checks.catalog import REGISTRY
from checks.engine.registry import CheckSpec
from checks.models import CheckResult, ValidationRun
from portal.models import ItemState
from reviews.coverage import covers
from reviews.gate import Finding, compute_gate
from reviews.models import Exemption
from tests.support.launches import record_run

pytestmark = pytest.mark.django_db


def _rules(service) -> dict[str, tuple[bool, str]]:
    return {r.key: (r.passed, r.reason) for r in compute_gate(service).rules}


def _findings(service, rule: str) -> dict[str, Finding]:
    gate = compute_gate(service)
    return {f.subject: f for f in next(r for r in gate.rules if r.key == rule).findings}


def test_a_ready_service_passes_every_rule_and_lists_the_drill_keys(ready_service) -> None:
    gate = compute_gate(ready_service)
    assert gate.passed, gate.as_dict()
    assert [r.key for r in gate.rules] == [
        "blocking_items",
        "no_failing_items",
        "full_run",
        "verifying_checks",
        "drills",
        "required_level",
    ]
    assert gate.drill_keys == checks_selectors.drill_keys()
    assert gate.as_dict()["drill_keys"] == gate.drill_keys
    assert gate.as_dict()["full_run"]["counts"]["passed"] == len(REGISTRY)
    assert gate.findings == [] and gate.skipped == []


def test_a_new_service_fails_on_items_run_and_unrun_checks(service) -> None:
    gate = compute_gate(service)
    rules = {r.key: r for r in gate.rules}
    assert not rules["blocking_items"].passed
    assert "blocking item(s) not done" in rules["blocking_items"].reason
    assert rules["full_run"].reason == "no full validation run has finished yet"
    (run_finding,) = rules["full_run"].findings
    assert run_finding.kind == "run" and not run_finding.exemptable
    missing = {f.key: f for f in rules["verifying_checks"].findings}
    assert missing["security.cors"].status == "missing"
    assert missing["security.cors"].items == ("security.cors_allowlist",)
    # supports-only checks are never required by the gate for an item
    assert "smoke.health" not in missing and "observability.request_id" not in missing
    assert rules["no_failing_items"].passed


def test_a_stale_or_expired_blocking_item_fails_the_gate(ready_service) -> None:
    ItemState.objects.filter(service=ready_service, item_key="security.cors_allowlist").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    passed, reason = _rules(ready_service)["blocking_items"]
    assert not passed and "security.cors_allowlist" in reason
    assert _findings(ready_service, "blocking_items")["item:security.cors_allowlist"].status == (
        "expired"
    )
    ItemState.objects.filter(service=ready_service).update(state="done")
    ItemState.objects.filter(service=ready_service, item_key="testing.coverage").update(
        state=ItemState.State.STALE
    )
    assert "testing.coverage" in _rules(ready_service)["blocking_items"][1]


def test_not_applicable_counts_as_done_but_its_verifying_checks_still_count(
    ready_service,
) -> None:
    ItemState.objects.filter(service=ready_service, item_key="security.cors_allowlist").update(
        state=ItemState.State.NOT_APPLICABLE, expires_at=None
    )
    assert _rules(ready_service)["blocking_items"][0] is True
    assert compute_gate(ready_service).passed
    record_run(ready_service, {"security.cors": ("skip", {"setting": "paths.items"})})
    skipped = _findings(ready_service, "verifying_checks")["check:security.cors"]
    assert skipped.status == "skip" and skipped.items == ("security.cors_allowlist",)


def test_a_failing_non_blocking_item_still_fails_the_gate(ready_service) -> None:
    state = ItemState.objects.filter(service=ready_service, item__blocking=False).first()
    assert state is not None
    ItemState.objects.filter(pk=state.pk).update(state=ItemState.State.FAILING)
    rules = _rules(ready_service)
    assert rules["blocking_items"][0] is True
    assert rules["no_failing_items"] == (False, f"failing: {state.item_key}")


def test_the_latest_full_run_must_be_recent_and_nothing_in_it_fail(ready_service, settings) -> None:
    old = ValidationRun.objects.get()
    ValidationRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    assert "older than 7 days" in _rules(ready_service)["full_run"][1]
    assert not _findings(ready_service, "full_run")[f"run:{old.pk}"].exemptable
    settings.PREFLIGHT_GATE_RUN_MAX_AGE_DAYS = 10
    assert _rules(ready_service)["full_run"][0] is True
    failed = record_run(ready_service, {"api.deprecation": "fail"}, full=True)
    passed, reason = _rules(ready_service)["full_run"]
    assert not passed and f"full run #{failed.pk}" in reason and "api.deprecation" in reason
    finding = _findings(ready_service, "full_run")["check:api.deprecation"]
    assert finding.exemptable and finding.status == "fail"
    # a re-run that passes clears it
    record_run(ready_service, {"api.deprecation": "pass"}, trigger="rerun")
    assert _rules(ready_service)["full_run"][0] is True


def test_a_full_run_that_recorded_nothing_does_not_count(ready_service) -> None:
    empty = ValidationRun.objects.create(
        service=ready_service, status="error", complete_selection=True, message="profile unusable"
    )
    passed, reason = _rules(ready_service)["full_run"]
    assert not passed and f"#{empty.pk} recorded no result" in reason


def test_partial_runs_and_reruns_do_not_count_as_full(ready_service) -> None:
    full = ValidationRun.objects.get()
    ValidationRun.objects.create(service=ready_service, status="failed", steps=["smoke"])
    ValidationRun.objects.create(service=ready_service, status="failed", trigger="rerun")
    ValidationRun.objects.create(service=ready_service, status="running")
    ValidationRun.objects.create(service=ready_service, status="failed", keys=["smoke.health"])
    assert _rules(ready_service)["full_run"][1].startswith(f"full run #{full.pk} on ")


def test_a_full_run_with_skips_cannot_satisfy_the_gate_for_a_blocking_item(
    ready_service,
) -> None:
    """The issue's case: a full run "passed" with checks skipped for lack of a setting."""
    skips = {
        "db.index_usage": ("skip", {"setting": "mongo.uri"}),
        "db.write_concern": ("skip", {"setting": "mongo.uri"}),  # supports only
        "security.tls": ("skip", {"setting": "tls.https_url"}),
        "smoke.health": ("skip", {"setting": "paths.health"}),  # supports only
        "api.deprecation": ("skip", {}),  # a non-blocking item's check, not applicable
    }
    results: dict = {key: "pass" for key in REGISTRY}
    results.update(skips)
    run = record_run(ready_service, results, full=True)
    assert run.status == "passed"
    assert run.verdict == "passed, 5 skipped (4 not configured, 1 not applicable)"
    gate = compute_gate(ready_service)
    rules = {r.key: r for r in gate.rules}
    assert rules["full_run"].passed  # the run itself is recent and nothing failed...
    assert not rules["verifying_checks"].passed  # ...but it did not verify two blocking items
    assert not gate.passed
    assert {(f.key, f.setting, f.items) for f in gate.skipped} == {
        ("db.index_usage", "mongo.uri", ("data.explain_hot_queries",)),
        ("security.tls", "tls.https_url", ("security.tls_hsts",)),
    }
    assert "2 skipped" in rules["verifying_checks"].reason
    assert gate.as_dict()["skipped"][0]["setting"] in ("mongo.uri", "tls.https_url")


def test_a_verifying_check_must_have_passed_recently(ready_service, settings) -> None:
    CheckResult.objects.filter(key="security.cors").update(
        created_at=timezone.now() - timedelta(days=8)
    )
    finding = _findings(ready_service, "verifying_checks")["check:security.cors"]
    assert finding.status == "stale" and "more than 7 days ago" in finding.reason


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


@pytest.mark.parametrize(
    ("granted", "now", "covered"),
    [
        ({"item:a.b": "open"}, Finding("item", "a.b", "open", ""), True),
        ({"item:a.b": "open"}, Finding("item", "a.b", "stale", ""), True),  # better
        ({"item:a.b": "open"}, Finding("item", "a.b", "failing", ""), False),  # worse
        ({"item:a.b": "failing"}, Finding("item", "a.b", "open", ""), True),
        ({"item:a.b": "open"}, Finding("item", "c.d", "open", ""), False),  # not named
        ({"check:x.y": "skip"}, Finding("check", "x.y", "skip", ""), True),
        ({"check:x.y": "skip"}, Finding("check", "x.y", "missing", ""), True),
        ({"check:x.y": "skip"}, Finding("check", "x.y", "fail", ""), False),
        ({"check:x.y": "fail"}, Finding("check", "x.y", "error", ""), True),
        ({"item:x.y": "failing"}, Finding("check", "x.y", "fail", ""), False),  # other kind
        ({"run:7": "stale"}, Finding("run", "7", "stale", ""), False),  # never
    ],
)
def test_an_exemption_covers_what_it_names_as_it_was_or_better(
    granted, now: Finding, covered: bool
) -> None:
    assert covers(Exemption(granted=granted), now) is covered
