"""A real Celery worker process, real Redis, and the real test database: a validation
requested through the portal's dispatch runs in the worker and its results land here."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.conf import settings

from checks.models import CheckResult, ValidationRun
from checks.services import runs
from portal.audit import verify_chain
from portal.models import AuditEvent

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait_finished(run: ValidationRun, timeout: float = 60) -> ValidationRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run #{run.pk} still {run.status} after {timeout}s")


def test_a_real_worker_runs_a_validation_and_redelivery_adds_nothing(
    staged_service, lead, worker: subprocess.Popen[bytes]
) -> None:
    from checks.tasks import execute_run

    # security.headers verifies an item, so the worker writes a "verified" audit event (the
    # smoke checks only support theirs).
    run = runs.run_request(
        service=staged_service,
        actor=lead,
        keys=["smoke.health", "smoke.ping_db", "security.headers"],
    )
    run = _wait_finished(run)
    assert run.status == "passed", run.message
    assert CheckResult.objects.filter(run=run).count() == 3
    # The same message delivered again (late ack + a crash would do this): nothing new.
    with execute_run.app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        execute_run.apply_async(args=[run.pk], connection=conn)
        execute_run.apply_async(args=[run.pk], connection=conn)
    second = runs.run_request(service=staged_service, actor=lead, keys=["smoke.health"])
    _wait_finished(second)  # the worker took the duplicates before this one (FIFO, solo)
    assert CheckResult.objects.filter(run=run).count() == 3
    assert worker.poll() is None
    # What the worker recorded in the sign-off history verifies here: same audit key.
    assert AuditEvent.objects.filter(actor__isnull=True, action="verified").exists()
    assert verify_chain()[1] is None
