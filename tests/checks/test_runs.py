"""Runs executed as plain functions (the Celery task calls the same code) over real HTTP
against the reference service on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from checks.models import CheckResult, ValidationRun
from checks.services import runs
from checks.tasks import execute_run, scheduled_validation, sweep_runs
from core.errors import InvalidInput, NotAllowed
from portal.models import AuditEvent, ItemState
from tests.checks.conftest import profile_for
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def _state(service, key):
    return ItemState.objects.get(service=service, item_key=key)


def test_a_smoke_run_records_results_and_counts_but_ticks_no_item_it_only_supports(
    staged_service, lead
):
    run = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    assert run.status == "queued" and run.keys == [
        "smoke.health",
        "smoke.ping_db",
        "smoke.crud_cycle",
    ]
    assert execute_run(run.pk) == "passed"  # the task, called as a function
    run.refresh_from_db()
    assert run.started_at and run.finished_at
    assert dict(run.results.values_list("key", "status")) == {
        "smoke.health": "pass",
        "smoke.ping_db": "pass",
        "smoke.crud_cycle": "pass",
    }
    assert run.counts["passed"] == 3 and run.counts["total"] == 3
    assert run.verdict == "passed: 3 checks"
    # The smoke checks support "all test suites pass" (evidence only): the item stays open
    # for a person to tick, with the three results on its row.
    state = _state(staged_service, "testing.suites_pass")
    assert state.state == "open" and state.updated_by is None
    assert {k: v["status"] for k, v in state.check_results.items()} == {
        "smoke.health": "pass",
        "smoke.ping_db": "pass",
        "smoke.crud_cycle": "pass",
    }
    assert f"/runs/{run.pk}/" in state.check_results["smoke.health"]["url"]
    assert not AuditEvent.objects.filter(action="verified").exists()


def test_a_verifying_check_ticks_its_item(staged_service, lead):
    run = runs.run_request(service=staged_service, actor=lead, keys=["security.headers"])
    assert runs.execute(run.pk).status == "passed"
    state = _state(staged_service, "security.http_headers")  # verified by security.headers
    assert state.state == "done" and state.updated_by is None and state.expires_at
    assert f"/runs/{run.pk}/" in state.evidence_url
    event = AuditEvent.objects.get(action="verified", item_key="security.http_headers")
    assert event.actor_name == "preflight-system"


def test_executing_the_same_run_twice_records_nothing_twice(staged_service, lead, settings):
    run = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    runs.execute(run.pk)
    assert runs.execute(run.pk) is None  # finished: a re-delivery is a no-op
    # While its execution holds a live lease, another copy of the message does nothing...
    ValidationRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    CheckResult.objects.filter(run=run, key="smoke.crud_cycle").delete()
    assert runs.execute(run.pk) is None
    assert CheckResult.objects.filter(run=run).count() == 2
    # ...and once the lease expired (the worker is gone) it takes over: only missing keys run.
    ValidationRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PREFLIGHT_RUN_LEASE_S + 1)
    )
    resumed = runs.execute(run.pk)
    assert resumed is not None and resumed.status == "passed" and resumed.executions == 2
    assert CheckResult.objects.filter(run=run).count() == 3
    assert resumed.counts["passed"] == 3


def test_a_failing_check_marks_the_items_it_verifies_failing(
    service, lead, reference_service_factory
):
    profile_for(service, reference_service_factory(flaws=["cors_wildcard", "health_down"]))
    run = runs.run_request(service=service, actor=lead, keys=["security.cors", "smoke.health"])
    assert runs.execute(run.pk).status == "failed"
    assert run.__class__.objects.get(pk=run.pk).verdict == "failed: 2 failed"
    state = _state(service, "security.cors_allowlist")
    assert state.state == "failing" and "security.cors failed" in state.note
    assert state.failing_checks == ["security.cors"]
    # smoke.health only supports testing.suites_pass: its failure shows, decides nothing.
    suites = _state(service, "testing.suites_pass")
    assert suites.state == "open" and suites.check_results["smoke.health"]["status"] == "fail"
    assert suites.failing_checks == []


def test_an_unreachable_service_is_an_error_not_a_failure(service, lead) -> None:
    from tests.support.refservice import _free_socket

    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()

    class Down:
        base_url = f"http://127.0.0.1:{port}"
        username, password, otp_secret = "probe", "pw", "JBSWY3DPEHPK3PXP"

    profile_for(service, Down())
    run = runs.run_request(service=service, actor=lead, keys=["security.headers"])
    finished = runs.execute(run.pk)
    assert finished.status == "error" and finished.counts["errored"] == 1
    assert finished.verdict == "error: 1 errored"
    state = _state(service, "security.http_headers")  # verified by security.headers
    assert state.state == "open" and state.check_results["security.headers"]["status"] == "error"
    assert state.failing_checks == []  # an error is no verdict on the service


def test_runs_need_a_profile_a_member_and_known_keys(service, lead, outsider) -> None:
    with pytest.raises(InvalidInput, match="no staging profile"):
        runs.run_request(service=service, actor=lead)
    profile_for(
        service,
        type(
            "R",
            (),
            {
                "base_url": "http://127.0.0.1:9",
                "username": "p",
                "password": "x",
                "otp_secret": "JBSWY3DPEHPK3PXP",
            },
        )(),
    )
    with pytest.raises(NotAllowed):
        runs.run_request(service=service, actor=outsider)
    with pytest.raises(InvalidInput, match="nope"):
        runs.run_request(service=service, actor=lead, keys=["nope.nope"])
    assert not ValidationRun.objects.exists()


def test_rerun_of_one_check_makes_a_child_run(staged_service, lead) -> None:
    run = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    runs.execute(run.pk)
    child = runs.rerun_check(run=run, key="smoke.ping_db", actor=lead)
    assert child.parent == run and child.keys == ["smoke.ping_db"] and child.trigger == "rerun"


def _queued_messages(settings) -> list[int]:
    """The run ids of the execute_run messages waiting in this suite's queue (real Redis)."""
    from core.broker import held_messages

    held = held_messages("checks.tasks.execute_run", [settings.CELERY_TASK_DEFAULT_QUEUE])
    assert held is not None
    return sorted(args[0] for args in held.queued)


def test_the_sweeper_fails_stuck_runs_and_redispatches_lost_ones(staged_service, lead, settings):
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    settings.PREFLIGHT_DISPATCH_MAX_ATTEMPTS = 3
    long_ago = timezone.now() - timedelta(hours=1)
    stuck = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    ValidationRun.objects.filter(pk=stuck.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=2)
    )
    # The broker refused it (down at request time): sent again.
    unsent = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    ValidationRun.objects.filter(pk=unsent.pk).update(dispatched_at=None, enqueued_at=None)
    # Refused three times: given up as never started.
    hopeless = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    ValidationRun.objects.filter(pk=hopeless.pk).update(
        dispatch_attempts=3, dispatched_at=long_ago, enqueued_at=None
    )
    # Accepted an hour ago, sent many times, and its message is still queued behind a
    # backlog: neither given up nor sent twice.
    waiting = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    ValidationRun.objects.filter(pk=waiting.pk).update(dispatch_attempts=9, dispatched_at=long_ago)
    # Accepted, but its message vanished from the broker: sent again.
    vanished = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    ValidationRun.objects.filter(pk=vanished.pk).update(dispatched_at=long_ago)
    # Running, but its worker stopped renewing the lease: sent again to be taken over.
    orphan = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    ValidationRun.objects.filter(pk=orphan.pk).update(
        status="running",
        started_at=timezone.now(),
        executions=1,
        dispatched_at=long_ago,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PREFLIGHT_RUN_LEASE_S + 5),
    )
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    runs.dispatch(waiting.pk)
    ValidationRun.objects.filter(pk=waiting.pk).update(dispatched_at=long_ago)
    assert _queued_messages(settings) == [waiting.pk]
    counts = sweep_runs()
    assert counts == {"stuck": 1, "resumed": 1, "lost": 0, "given_up": 1, "redispatched": 2}
    assert ValidationRun.objects.get(pk=stuck.pk).status == "error"
    assert ValidationRun.objects.get(pk=hopeless.pk).status == "error"
    assert ValidationRun.objects.get(pk=waiting.pk).status == "queued"
    assert _queued_messages(settings) == sorted([waiting.pk, unsent.pk, vanished.pk, orphan.pk])
    # Sweeping again at once sends nothing twice: every message is in the queue now.
    counts = sweep_runs()
    assert counts["resumed"] == counts["redispatched"] == 0
    # A run whose worker was lost too often is given up.
    ValidationRun.objects.filter(pk=orphan.pk).update(
        executions=settings.PREFLIGHT_RUN_MAX_EXECUTIONS
    )
    assert sweep_runs()["lost"] == 1
    assert "worker lost" in ValidationRun.objects.get(pk=orphan.pk).message
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)


def test_a_run_requested_while_the_broker_is_down_stays_queued(staged_service, lead, settings):
    import redis

    # Nothing listens on port 1: a real connection refusal, no mock.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    run = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    assert runs.dispatch(run.pk) is False
    run.refresh_from_db()
    assert run.status == "queued" and run.dispatch_attempts == 2
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = r.llen(queue)
    assert runs.dispatch(run.pk) is True  # the broker is back: the sweeper's path
    assert r.llen(queue) == before + 1
    r.delete(queue)


def test_scheduled_validation_starts_a_run(staged_service) -> None:
    run_id = scheduled_validation(staged_service.pk)
    run = ValidationRun.objects.get(pk=run_id)
    assert run.trigger == "schedule" and run.triggered_by is None


def test_the_run_pages_with_and_without_htmx(staged_service, lead) -> None:
    client = Client()
    client.login(username="lead", password=PASSWORD)
    response = client.post(reverse("checks:run-start", args=["orders"]), {"steps": ["smoke"]})
    run = ValidationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    live = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and 'hx-trigger="every 250ms"' in live.content.decode()
    runs.execute(run.pk)
    done = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # htmx stops polling
    assert "smoke.crud_cycle" in done.content.decode() and "hx-trigger" not in done.content.decode()
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "<html" in page and "Passed" in page
    assert (
        f"#{run.pk}" in client.get(reverse("checks:run-history", args=["orders"])).content.decode()
    )
    assert "Run validation" in client.get("/services/orders/").content.decode()


def test_the_run_page_plots_a_load_test(staged_service, lead) -> None:
    run = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    samples = [{"t": 1, "rps": 30, "p50_ms": 9, "p95_ms": 20, "errors": 0}]
    CheckResult.objects.create(
        run=run,
        key="load.target_rps",
        status="pass",
        summary="held",
        evidence={"samples": samples, "totals": {"target_rps": 25, "offered_rps": 30}},
    )
    client = Client()
    client.force_login(lead)
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="load-curve"' in html and "vendor/plotly.min.js" in html
    assert '"offered_rps": 30' in html
    other = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    assert 'id="load-curve"' not in client.get(f"/runs/{other.pk}/").content.decode()


def test_a_scheduled_run_writes_its_results_in_batches_and_counts_each_once(staged_service):
    run = ValidationRun.objects.get(pk=scheduled_validation(staged_service.pk))
    assert run.target_host == staged_service.profile.toml.split("//")[1].split('"')[0]
    finished = runs.execute(run.pk)
    assert finished is not None and finished.status == "passed", finished.verdict
    stored = CheckResult.objects.filter(run=run)
    assert stored.count() == len(run.keys) == finished.counts["total"]
    assert finished.counts["passed"] == stored.filter(status="pass").count() > 0
    assert finished.counts["skipped"] == stored.filter(status="skip").count() > 0
    assert finished.counts["not_configured"] == stored.filter(evidence__has_key="setting").count()


def test_a_run_over_its_hosts_cap_steps_back_and_is_sent_again(staged_service, lead, settings):
    import redis

    settings.PREFLIGHT_RUNS_PER_HOST = 1
    busy = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    assert runs.claim(busy.pk) is not None  # a live execution on the same host
    waiting = runs.run_request(service=staged_service, actor=lead, steps=["smoke"])
    assert waiting.target_host == busy.target_host != ""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert runs.execute(waiting.pk) is None
    waiting.refresh_from_db()
    assert waiting.status == "queued" and waiting.executions == 0 and not waiting.results.exists()
    assert _queued_messages(settings) == [waiting.pk]  # sent again, a few seconds later
    client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    settings.PREFLIGHT_RUNS_PER_HOST = 2
    assert runs.execute(waiting.pk).status == "passed"


def test_an_execution_that_lost_its_run_keeps_nothing_it_found(staged_service, lead):
    from checks.engine import Outcome, Status

    run = runs.run_request(service=staged_service, actor=lead, keys=["smoke.health"])
    claimed = runs.claim(run.pk)
    assert claimed is not None
    run, token = claimed
    assert runs.still_owned(run.pk, token)
    # Presumed dead (its lease expired), the run was taken over by another execution.
    ValidationRun.objects.filter(pk=run.pk).update(claim_token="another-execution")
    assert not runs.still_owned(run.pk, token)
    runs._Results(run, token).add(Outcome("smoke.health", Status.PASS, "ok", {}, 1))
    assert not CheckResult.objects.filter(run=run).exists()
    assert runs._finish(run, token).status == "running"  # nor does it finish the run
