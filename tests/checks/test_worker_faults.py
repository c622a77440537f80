"""Faults a fleet meets, injected into real parts: real Celery worker processes and real
beat on real Redis, the real test database, a real reference service and real Locust.

The lease is 3 s here (PREFLIGHT_RUN_LEASE_S) and beat sends the sweeper every second, so
what takes a minute or so with the defaults (lease 40 s, sweep every 30 s) takes seconds."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import psutil
import pytest
from django.conf import settings as django_settings

from checks.models import CheckResult, ValidationRun
from checks.services import profiles, runs
from core.broker import enqueue, held_messages
from drills.models import Drill
from tests.support.worker import WorkerFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEASE_S = 3
FAST = {"PREFLIGHT_RUN_LEASE_S": str(LEASE_S), "PREFLIGHT_SWEEP_INTERVAL_S": "1"}
# Long enough to be killed in the middle of, short enough for the suite.
LOAD = "[load]\ntarget_rps = 20\nduration_s = 8\np95_ms = 1500\ncache_hit_target = 0.0\n"


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _stage(service, ref) -> None:
    toml = (
        f'[service]\nname = "{service.slug}"\nbase_url = "{ref.base_url}"\n'
        f'[auth]\nusername = "{ref.username}"\n[limits]\nlogin_attempts = 40\n'
        f'[hooks]\npreset = "reference"\n{LOAD}'
    )
    profiles.profile_save(
        service=service,
        toml=toml,
        new_secrets={"password": ref.password, "hooks_token": ref.drill_token or ""},
        clear=[],
        actor=None,
    )


def _locusts(root: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in root.children(recursive=True):
        try:
            if "locust" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "pool", ["threads", "prefork"], ids=["whole-worker-killed", "pool-process-killed"]
)
def test_a_worker_killed_mid_drill_its_run_is_taken_over_and_completes_with_no_orphaned_load(
    pool: str, service, reference_service_factory, worker_factory: WorkerFactory, settings
) -> None:
    """threads: the whole worker is killed (its message stays unacked in Redis). prefork:
    only the pool process running the run is killed (Celery re-queues the message at once,
    while the dead execution's lease and drill lock are still fresh)."""
    settings.PREFLIGHT_RUN_LEASE_S = LEASE_S
    ref = reference_service_factory(login_limit=40)
    _stage(service, ref)
    first = worker_factory.start(pool=pool, concurrency=2 if pool == "threads" else 1, env=FAST)
    run = runs.run_request(
        service=service, actor=None, keys=["smoke.health", "security.headers", "load.target_rps"]
    )
    _wait(lambda: _locusts(psutil.Process(first.pid)), 60, "Locust to start in the worker")
    time.sleep(2)  # mid-load
    locusts = _locusts(psutil.Process(first.pid))
    assert Drill.objects.get(run=run).status == "running"

    if pool == "threads":
        victim = psutil.Process(first.pid)
    else:
        (victim,) = [p for p in psutil.Process(first.pid).children() if p not in locusts]
    victim.send_signal(signal.SIGKILL)  # no finally, no ack, no restore
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    # The load generator dies with its execution: no orphan keeps loading the service.
    _wait(lambda: not any(_alive(p) for p in locusts), 5, "the orphaned Locust to die")

    if pool == "threads":
        worker_factory.start(pool="threads", concurrency=2, env=FAST)
    worker_factory.start_beat(env=FAST)  # sends the sweeper every second
    _wait(
        lambda: ValidationRun.objects.get(pk=run.pk).finished,
        120,
        "the run to be taken over and finish",
    )
    took = time.monotonic() - killed_at
    run.refresh_from_db()
    assert run.status == "passed", (run.status, run.message, run.verdict)
    assert run.executions == 2
    assert took < 120
    results = dict(CheckResult.objects.filter(run=run).values_list("key", "status"))
    assert results == {
        "smoke.health": "pass",
        "security.headers": "pass",
        "load.target_rps": "pass",
    }
    assert run.counts["passed"] == 3
    # The dead execution's drill lock was taken over (not an error), the drill ran again.
    drills = list(Drill.objects.filter(run=run).order_by("id").values_list("status", flat=True))
    assert drills == ["abandoned", "passed"]


def test_a_run_sent_twice_while_no_worker_runs_is_executed_exactly_once(
    staged_service, worker_factory: WorkerFactory, settings
) -> None:
    settings.PREFLIGHT_DISPATCH_RETRY_S = 1
    queue = [django_settings.CELERY_TASK_DEFAULT_QUEUE]
    keys = ["smoke.health", "smoke.ping_db", "smoke.crud_cycle", "security.headers"]
    run = runs.run_request(service=staged_service, actor=None, keys=keys)  # no worker yet
    time.sleep(1.5)  # past the resend threshold
    counts = runs.sweep()
    # Its message is still in the queue: not sent twice, not given up.
    assert counts["redispatched"] == 0 and counts["given_up"] == 0
    held = held_messages("checks.tasks.execute_run", queue)
    assert held is not None and (run.pk,) in held.queued
    # A second copy anyway (what the old sweeper did; a visibility-timeout restore can too).
    assert enqueue("checks.tasks.execute_run", run.pk)
    worker = worker_factory.start(pool="threads", concurrency=2)
    _wait(lambda: ValidationRun.objects.get(pk=run.pk).finished, 60, "the run to finish")
    _wait(lambda: "not claimed" in worker_factory.log(worker), 30, "the second copy to leave")
    run.refresh_from_db()
    assert run.status == "passed", run.message
    assert run.executions == 1
    assert CheckResult.objects.filter(run=run).count() == len(keys)
    assert worker_factory.log(worker).count("not claimed") == 1
