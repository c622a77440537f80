"""Celery entry points of the portal: thin wrappers over services."""

from celery import shared_task

from portal import services


@shared_task(name="portal.tasks.expire_stale_items")
def expire_stale_items() -> int:
    return services.expire_stale_items()
