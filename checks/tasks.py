"""Celery entry points for validation runs and service discovery: thin, idempotent, by id."""

from __future__ import annotations

import logging

from celery import shared_task

from checks.services import discoveries, runs

log = logging.getLogger(__name__)


@shared_task(name="checks.tasks.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> str:
    run = runs.execute(run_id)
    status = run.status if run else "skipped"
    log.info("validation run %s: %s", run_id, status, extra={"run_id": run_id})
    return status


@shared_task(name="checks.tasks.sweep_runs")
def sweep_runs() -> dict[str, int]:
    return runs.sweep()


@shared_task(name="checks.tasks.scheduled_validation")
def scheduled_validation(service_id: int) -> int | None:
    return runs.start_scheduled_run(service_id)


@shared_task(name="checks.tasks.discover_service", acks_late=True, reject_on_worker_lost=True)
def discover_service(job_id: int) -> str:
    job = discoveries.execute(job_id)
    status = job.status if job else "skipped"
    log.info("discovery %s: %s", job_id, status, extra={"discovery_id": job_id})
    return status


@shared_task(name="checks.tasks.sweep_discoveries")
def sweep_discoveries() -> dict[str, int]:
    return discoveries.sweep()
