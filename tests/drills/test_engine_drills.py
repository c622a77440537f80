"""Every drill against a healthy reference service passes, and fails against the flaw it
exists to catch; the harness restores on cancel, refuses the portal's own endpoints and
holds the lock. Engine only (no Django): the way the CLI runs drills."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from checks.catalog import REGISTRY
from checks.engine.hooks import AlertSeen, DrillBusy, DrillContext, set_drill_context
from checks.engine.outcome import Outcome, Status
from checks.engine.runner import run_one
from checks.engine.target import Target
from tests.drills.conftest import drill_state, drill_target, seed
from tests.support.refservice import RunningReferenceService, run_reference_service

Factory = Callable[..., RunningReferenceService]


@pytest.fixture(scope="module")
def healthy() -> Any:
    with run_reference_service(login_limit=40) as ref:
        yield ref


def run(t: Target, key: str) -> Outcome:
    return run_one(t, REGISTRY[key])


def events(outcome: Outcome, key: str = "events") -> list[str]:
    return [e["event"] for e in outcome.evidence[key]]


ALL_UP = {"redis_down": False, "db_down": False, "error_rate": 0.0, "canary_version": None}


def assert_restored(ref: RunningReferenceService) -> None:
    state = drill_state(ref)
    assert {k: state[k] for k in ALL_UP} == ALL_UP


# --- chaos ---


def test_redis_outage_passes_when_reads_degrade_gracefully(healthy) -> None:
    outcome = run(drill_target(healthy), "chaos.redis_outage")
    assert outcome.status == Status.PASS, outcome.summary
    assert outcome.evidence["reads"] == 30 and outcome.evidence["errors_5xx"] == 0
    assert outcome.evidence["recovery_s"] is not None
    assert events(outcome)[:2] == ["drill started", "hook redis_down"]
    assert_restored(healthy)


def test_redis_outage_fails_when_redis_is_a_hard_dependency(reference_service_factory) -> None:
    ref = reference_service_factory(flaws=["redis_hard_dependency"], login_limit=40)
    outcome = run(drill_target(ref), "chaos.redis_outage")
    assert outcome.status == Status.FAIL
    assert outcome.evidence["errors_5xx"] == 30 and "hard dependency" in outcome.summary
    assert_restored(ref)


def test_db_readiness_passes_when_ready_flips_fast(healthy) -> None:
    outcome = run(drill_target(healthy), "chaos.db_readiness")
    assert outcome.status == Status.PASS, outcome.summary
    assert outcome.evidence["flip_s"] <= 1 and outcome.evidence["recovery_s"] is not None
    assert "hook db_up" in events(outcome)
    assert_restored(healthy)


def test_db_readiness_fails_when_ready_ignores_the_db(reference_service_factory) -> None:
    ref = reference_service_factory(flaws=["ready_ignores_db"], login_limit=40)
    outcome = run(drill_target(ref), "chaos.db_readiness")
    assert outcome.status == Status.FAIL and outcome.evidence["flip_s"] is None
    assert "ignores the database" in outcome.summary
    assert_restored(ref)


# --- rollout ---


def test_canary_drill_passes_and_rolls_back(healthy) -> None:
    seed(healthy)
    outcome = run(drill_target(healthy), "rollout.canary_drill")
    assert outcome.status == Status.PASS, outcome.summary
    assert 0.04 <= outcome.evidence["canary_share"] <= 0.16
    assert outcome.evidence["rollback_s"] is not None
    assert_restored(healthy)


def test_canary_drill_fails_when_the_rollback_does_not_restore(reference_service_factory) -> None:
    ref = reference_service_factory(flaws=["canary_stuck"], login_limit=40)
    seed(ref)
    outcome = run(drill_target(ref), "rollout.canary_drill")
    assert outcome.status == Status.FAIL and outcome.evidence["rollback_s"] is None
    assert "after rollback" in outcome.summary


# --- load (real Locust, 4 s at 30 req/s) ---


def test_load_holds_the_rate_and_cache_ratio_reuses_the_same_run(reference_service_factory) -> None:
    ref = reference_service_factory(login_limit=40)
    t = drill_target(ref)
    load = run(t, "load.target_rps")
    assert load.status == Status.PASS, load.summary
    totals = load.evidence["totals"]
    assert set(totals) == {
        "requests",
        "failures",
        "rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "target_rps",
        "offered_rps",
    }
    assert totals["offered_rps"] == 30 and totals["target_rps"] == 25
    assert "timeline" not in load.evidence  # check-catalog.md: "events" and "samples"
    assert load.evidence["samples"] and set(load.evidence["samples"][0]) == {
        "t",
        "rps",
        "p50_ms",
        "p95_ms",
        "errors",
    }
    assert {e["name"] for e in load.evidence["endpoints"]} == {
        "GET /items",
        "GET /items/{id}",
        "POST /items",
    }
    assert "load finished" in events(load)
    assert load.evidence["redirects"] == 0 and load.evidence["failures"] == []
    started = time.monotonic()
    cache = run(t, "load.cache_hit_ratio")
    assert time.monotonic() - started < 1, "the second check must reuse the load run"
    assert cache.status == Status.PASS, cache.summary
    assert cache.evidence["reused_load"] is True and cache.evidence["hits"] > 0


def test_load_fails_when_the_service_cannot_hold_the_rate(reference_service_factory) -> None:
    ref = reference_service_factory(flaws=["slow"], login_limit=40)
    outcome = run(drill_target(ref), "load.target_rps")
    assert outcome.status == Status.FAIL
    assert outcome.evidence["totals"]["rps"] < 27 and "held" in outcome.summary


def test_load_checks_skip_without_a_target_rate(healthy) -> None:
    t = drill_target(healthy)
    object.__setattr__(t.profile.load, "target_rps", None)
    assert run(t, "load.target_rps").status == Status.SKIP


# --- alerts (the real Alertmanager path is tests/e2e/test_alert_drill.py) ---


def test_the_alert_drill_skips_on_the_cli_saying_why(healthy) -> None:
    outcome = run(drill_target(healthy), "alerts.error_drill")
    assert outcome.status == Status.SKIP and "webhook" in outcome.summary
    assert_restored(healthy)


def test_the_alert_drill_fails_when_no_alert_arrives_and_switches_errors_off(healthy) -> None:
    # An alert source with nothing in it: the "no Alertmanager answered" case, bounded.
    t = drill_target(healthy, more="[alerts]\ndeadline_s = 1.5\ntraffic_rps = 10\n")
    set_drill_context(t, DrillContext(alert_source=lambda matchers, since: []))
    outcome = run(t, "alerts.error_drill")
    assert outcome.status == Status.FAIL and outcome.evidence["time_to_alert_s"] is None
    assert outcome.evidence["errors_5xx"] > 0, "the drill's traffic saw the injected errors"
    assert "hook errors_off" in events(outcome)
    assert_restored(healthy)


def test_the_alert_drill_passes_when_alerts_fire_and_resolve(healthy) -> None:
    t = drill_target(healthy)
    now = time.time
    seen: list[AlertSeen] = []

    def source(matchers: Any, since: float) -> list[AlertSeen]:
        state = drill_state(healthy)  # the alert follows the service's real state
        status = "firing" if state["error_rate"] > 0 else "resolved"
        if not seen or seen[-1].status != status:
            seen.append(AlertSeen(status, now(), {"service": "reference", "alertname": "E"}))
        return list(seen)

    set_drill_context(t, DrillContext(alert_source=source))
    outcome = run(t, "alerts.error_drill")
    assert outcome.status == Status.PASS, outcome.summary
    assert outcome.evidence["time_to_alert_s"] is not None
    assert outcome.evidence["time_to_resolve_s"] is not None


def test_the_alert_drill_will_not_start_while_an_alert_still_fires(healthy) -> None:
    t = drill_target(healthy)
    firing = AlertSeen("firing", time.time() - 30, {"service": "reference"})
    set_drill_context(t, DrillContext(alert_source=lambda matchers, since: [firing]))
    outcome = run(t, "alerts.error_drill")
    assert outcome.status == Status.ERROR and "still firing" in outcome.summary
    assert_restored(healthy)


# --- the harness ---


def test_a_cancelled_drill_restores_and_reports_it() -> None:
    cancel = threading.Event()
    # The flaw would hold db_down for 7.5 s; the cancel ends it after about one.
    with run_reference_service(flaws=["ready_ignores_db"], login_limit=40) as ref:
        t = drill_target(ref)
        set_drill_context(t, DrillContext(cancelled=lambda key: cancel.is_set()))
        threading.Timer(1.0, cancel.set).start()
        started = time.monotonic()
        outcome = run(t, "chaos.db_readiness")
        assert time.monotonic() - started < 4
        assert outcome.status == Status.ERROR and "cancelled" in outcome.summary
        assert "restore db_up" in events(outcome)
        assert_restored(ref)


def test_drills_refuse_the_portals_own_broker_and_database(healthy) -> None:
    t = drill_target(healthy)
    port = int(healthy.base_url.rsplit(":", 1)[1])
    set_drill_context(t, DrillContext(forbidden=[("localhost", port)]))
    outcome = run(t, "chaos.db_readiness")
    assert outcome.status == Status.ERROR and "portal's own" in outcome.summary
    assert_restored(healthy)


def test_a_busy_lock_refuses_the_drill_without_touching_the_service(healthy) -> None:
    def busy(key: str, restore: list[str]) -> None:
        raise DrillBusy("chaos.redis_outage (drill #1) is running on orders")

    t = drill_target(healthy)
    set_drill_context(t, DrillContext(begin=busy))
    outcome = run(t, "chaos.db_readiness")
    assert outcome.status == Status.ERROR and "is running" in outcome.summary
    assert_restored(healthy)


def test_a_drill_without_its_hooks_is_skipped_naming_the_hook(healthy) -> None:
    from checks.engine.profile import parse_profile
    from checks.engine.target import build_target
    from tests.catalog.conftest import POLICY, profile_toml

    text = profile_toml(healthy.base_url, password=healthy.password)
    t = build_target(parse_profile(text, env={}), POLICY)
    outcome = run(t, "chaos.redis_outage")
    assert outcome.status == Status.SKIP and "hooks.redis_down" in outcome.summary


def test_a_failing_restore_hook_turns_the_verdict_into_an_error(healthy) -> None:
    t = drill_target(
        healthy, more='[hooks.db_up]\nurl = "/__drill/nowhere"\nheaders = { A = "x" }\n'
    )
    outcome = run(t, "chaos.db_readiness")
    assert outcome.status == Status.ERROR and "db_up" in outcome.summary
    # The engine cannot restore here; the test does, so other tests see a healthy service.
    import httpx

    httpx.post(
        healthy.base_url + "/__drill/db", json={"state": "up"}, headers=healthy.drill_headers()
    )
    assert_restored(healthy)


def test_the_load_test_needs_no_metrics_route_only_the_cache_ratio_does(healthy) -> None:
    # Issue 12: a service without /metrics still gets its load test; only the cache ratio,
    # read from the metrics counters, skips, naming the route it lacks.
    t = drill_target(healthy, more='[paths]\nmetrics = ""\n')
    load = run(t, "load.target_rps")
    assert load.status == Status.PASS, load.summary
    cache = run(t, "load.cache_hit_ratio")
    assert (cache.status, cache.evidence["setting"]) == (Status.SKIP, "paths.metrics")
