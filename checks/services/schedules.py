"""Per-service validation schedules, stored in django-celery-beat's tables so that beat picks
them up without a restart. Default: nightly at 02:00 UTC."""

from __future__ import annotations

import json

from celery.schedules import crontab
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from checks.engine import ProfileError
from checks.models import StagingProfile
from portal.models import Service


class BadCron(ProfileError):
    def __init__(self, message: str) -> None:
        super().__init__("schedule_cron", message)


def _crontab(expression: str) -> CrontabSchedule:
    parts = expression.split()
    if len(parts) != 5:
        raise BadCron(f"{expression!r}: use five fields (minute hour day month weekday)")
    minute, hour, day, month, weekday = parts
    try:  # celery's own parser: what it refuses, beat could never run
        crontab(
            minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday
        )
    except ValueError as exc:
        raise BadCron(f"{expression!r}: {exc}") from None
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day,
        month_of_year=month,
        day_of_week=weekday,
        timezone="UTC",
    )
    return schedule


def task_name(service: Service) -> str:
    return f"validate:{service.slug}"


def schedule_sync(profile: StagingProfile) -> PeriodicTask:
    task, _ = PeriodicTask.objects.update_or_create(
        name=task_name(profile.service),
        defaults={
            "task": "checks.tasks.scheduled_validation",
            "crontab": _crontab(profile.schedule_cron),
            "interval": None,
            "args": json.dumps([profile.service_id]),
            "enabled": profile.schedule_enabled,
        },
    )
    return task
