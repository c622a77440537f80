"""Per-service validation schedules, stored in django-celery-beat's tables so that beat picks
them up without a restart. Default: nightly at 02:00 UTC, each service at its own offset
within PREFLIGHT_SCHEDULE_SPREAD_MIN after that (``spread``): a fleet's nightly runs are spread
over the night instead of all arriving at 02:00."""

from __future__ import annotations

import hashlib
import json

from celery.schedules import crontab
from django.conf import settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from checks.engine import ProfileError
from checks.models import StagingProfile
from portal.models import Service


class BadCron(ProfileError):
    def __init__(self, message: str) -> None:
        super().__init__("schedule_cron", message)


def _crontab(expression: str, key: str) -> CrontabSchedule:
    """The schedule beat runs: ``expression`` as written if valid, spread by ``key``."""
    _valid(expression)
    minute, hour, day, month, weekday = spread(expression, key).split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day,
        month_of_year=month,
        day_of_week=weekday,
        timezone="UTC",
    )
    return schedule


def _valid(expression: str) -> None:
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


def spread(expression: str, key: str, minutes: int | None = None) -> str:
    """``expression`` moved later by a stable offset in [0, minutes) derived from ``key`` (the
    service's slug) when it names one time of day (plain minute and hour numbers); other
    expressions ("*/15 * * * *") are returned as they are. Never moves past midnight, so the
    day fields keep their meaning."""
    window = settings.PREFLIGHT_SCHEDULE_SPREAD_MIN if minutes is None else minutes
    parts = expression.split()
    if window <= 1 or len(parts) != 5 or not (parts[0].isdigit() and parts[1].isdigit()):
        return expression
    start = int(parts[1]) * 60 + int(parts[0])
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    at = min(start + digest % window, 24 * 60 - 1)
    return " ".join([str(at % 60), str(at // 60), *parts[2:]])


def task_name(service: Service) -> str:
    return f"validate:{service.slug}"


def schedule_sync(profile: StagingProfile) -> PeriodicTask:
    task, _ = PeriodicTask.objects.update_or_create(
        name=task_name(profile.service),
        defaults={
            "task": "checks.tasks.scheduled_validation",
            "crontab": _crontab(profile.schedule_cron, profile.service.slug),
            "interval": None,
            "args": json.dumps([profile.service_id]),
            "enabled": profile.schedule_enabled,
        },
    )
    return task
