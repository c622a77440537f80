"""Celery entry points of campaigns: the reminders (beat)."""

from __future__ import annotations

from celery import shared_task

from campaigns import services


@shared_task(name="campaigns.tasks.send_reminders")
def send_reminders() -> int:
    """Beat: start notices, weekly reminders while behind, overdue notices."""
    return services.send_reminders()
