"""Restore on failure: a real Celery worker is killed (SIGKILL) in the middle of a chaos
drill, so no ``finally`` runs; the sweeper notices the silent drill and restores staging."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from checks.services import runs
from drills.models import Drill
from drills.tasks import sweep_drills
from tests.drills.conftest import drill_state
from tests.drills.test_portal_drills import stage

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killing_the_worker_mid_drill_leaves_restoring_to_the_sweeper(
    service, reference_service_factory, worker: subprocess.Popen[bytes], settings
) -> None:
    # /ready ignores the DB here, so the drill holds db_down for 7.5 s: time to kill it.
    ref = reference_service_factory(flaws=["ready_ignores_db"], login_limit=40)
    stage(service, ref)
    runs.run_request(service=service, actor=None, keys=["chaos.db_readiness"])
    _wait(lambda: drill_state(ref)["db_down"], 45, "the worker to break the DB")
    drill = Drill.objects.get(service=service)
    assert drill.status == "running" and drill.restore_hooks == ["db_up"]
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    time.sleep(0.5)
    assert drill_state(ref)["db_down"] is True, "nothing restored it: the worker died"
    settings.PREFLIGHT_DRILL_STALE_S = 1
    _wait(lambda: sweep_drills()["restored"] == 1, 10, "the sweeper to restore")
    drill.refresh_from_db()
    assert drill.status == "abandoned" and drill.restored_at is not None
    assert drill_state(ref)["db_down"] is False
