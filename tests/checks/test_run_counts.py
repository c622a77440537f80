"""What a run covered: passed / failed / skipped / errored counted as each result lands, and a
verdict that says what was not verified ("passed, 18 skipped: not configured")."""

from __future__ import annotations

import pytest

from checks.engine.outcome import Outcome, Status
from checks.models import ValidationRun
from checks.selectors import run_coverage
from checks.services import runs

pytestmark = pytest.mark.django_db


def _run(status: str = "passed", **counts: int) -> ValidationRun:
    return ValidationRun(status=status, **{f"{k}_count": v for k, v in counts.items()})


@pytest.mark.parametrize(
    ("run", "verdict"),
    [
        (_run(**{"pass": 16}), "passed: 16 checks"),
        (
            _run(**{"pass": 16, "skip": 18, "unconfigured": 18}),
            "passed, 18 skipped: not configured",
        ),
        (_run(**{"pass": 30, "skip": 4}), "passed, 4 skipped: not applicable"),
        (
            _run(**{"pass": 16, "skip": 18, "unconfigured": 15}),
            "passed, 18 skipped (15 not configured, 3 not applicable)",
        ),
        (_run(**{"skip": 34, "unconfigured": 34}), "nothing verified: 34 skipped: not configured"),
        (_run(), "passed: no check ran"),
        (
            _run("failed", **{"pass": 14, "fail": 2, "error": 1, "skip": 17, "unconfigured": 17}),
            "failed: 2 failed, 1 errored, 14 passed, 17 skipped: not configured",
        ),
        (_run("error", **{"error": 1}), "error: 1 errored"),
        (
            _run("running", **{"pass": 3, "fail": 1, "skip": 2}),
            "running: 1 failed, 3 passed, 2 skipped so far",
        ),
        (_run("queued"), "queued"),
    ],
)
def test_the_verdict_says_what_the_run_did_not_verify(run: ValidationRun, verdict: str) -> None:
    assert run.verdict == verdict


def test_an_error_before_any_check_names_its_message() -> None:
    run = ValidationRun(status="error", message="profile unusable: bad TOML")
    assert run.verdict == "error (profile unusable: bad TOML)"


def test_results_are_counted_as_they_land_once_each(service) -> None:
    run = ValidationRun.objects.create(service=service, status="running", keys=["a.b"])
    outcomes = [
        Outcome("smoke.health", Status.PASS, "ok", {}, 3),
        Outcome("smoke.ping_db", Status.FAIL, "500", {}, 3),
        Outcome(
            "db.index_usage", Status.SKIP, "missing setting mongo.uri", {"setting": "mongo.uri"}, 1
        ),
        Outcome("api.deprecation", Status.SKIP, "marks no operation deprecated", {}, 1),
        Outcome("security.tls", Status.ERROR, "network timeout", {}, 9),
    ]
    for outcome in outcomes:
        runs._store(run, outcome)
    runs._store(run, outcomes[0])  # a re-delivered result is neither stored nor counted twice
    run.refresh_from_db()
    assert run.counts == {
        "passed": 1,
        "failed": 1,
        "skipped": 2,
        "errored": 1,
        "not_configured": 1,
        "total": 5,
    }
    finished = runs._finish(run)
    assert finished.status == "failed"
    assert finished.verdict == (
        "failed: 1 failed, 1 errored, 1 passed, 2 skipped (1 not configured, 1 not applicable)"
    )
    coverage = run_coverage(finished)
    assert [(s.key, s.setting) for s in coverage.skipped] == [
        ("api.deprecation", ""),
        ("db.index_usage", "mongo.uri"),
    ]
    assert coverage.as_dict()["skipped"][1] == {
        "key": "db.index_usage",
        "setting": "mongo.uri",
        "summary": "missing setting mongo.uri",
    }


def test_each_check_knows_the_items_it_verifies_or_supports(service) -> None:
    from checks.selectors import items_by_check

    mapped = items_by_check(service)
    assert [(m.key, m.role) for m in mapped["security.cors"]] == [
        ("security.cors_allowlist", "verifies")
    ]
    assert {(m.key, m.role) for m in mapped["repo.quality_gates"]} == {
        ("testing.coverage", "supports"),
        ("testing.static_checks", "supports"),
        ("testing.dependency_scan", "supports"),
    }
    assert {(m.key, m.role) for m in mapped["chaos.db_readiness"]} == {
        ("reliability.circuit_breaker", "supports"),
        ("reliability.readiness_probes", "verifies"),
        ("testing.chaos_test", "verifies"),
    }
    assert "auth.otp_flow" not in mapped  # a runbook check that proves no item
