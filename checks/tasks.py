"""Celery entry points for validation runs: thin, idempotent, by id."""

from __future__ import annotations

from celery import shared_task

from checks import runs, schedules


@shared_task(name="checks.tasks.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> str:
    run = runs.execute(run_id)
    return run.status if run else "skipped"


@shared_task(name="checks.tasks.sweep_runs")
def sweep_runs() -> dict[str, int]:
    return runs.sweep()


@shared_task(name="checks.tasks.scheduled_validation")
def scheduled_validation(service_id: int) -> int | None:
    return schedules.start_scheduled_run(service_id)
