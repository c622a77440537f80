"""Celery entry points of the portal: thin wrappers over services."""

from typing import Any

from celery import shared_task

from portal import checkpoints, services


@shared_task(name="portal.tasks.expire_stale_items")
def expire_stale_items() -> int:
    return services.expire_stale_items()


@shared_task(name="portal.tasks.publish_audit_checkpoint")
def publish_audit_checkpoint() -> dict[str, Any]:
    return checkpoints.publish_scheduled()
