"""Celery entry points for drills: thin."""

from __future__ import annotations

from celery import shared_task

from drills import services


@shared_task(name="drills.tasks.sweep_drills")
def sweep_drills() -> dict[str, int]:
    return services.sweep_drills()
