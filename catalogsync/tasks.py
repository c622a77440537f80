"""The scheduled sync (django-celery-beat: settings.CELERY_BEAT_SCHEDULE["catalog-sync"])."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from catalogsync.models import CatalogSync
from catalogsync.services import import_catalog

log = logging.getLogger(__name__)
RUNNING_FOR_AT_MOST = timedelta(hours=1)


@shared_task(name="catalogsync.tasks.sync_catalog")
def sync_catalog(source: str = "", trigger: str = "schedule") -> None:
    """Import each configured source (or the one named); a source whose previous sync still
    runs is skipped this time. A no-op without PREFLIGHT_CATALOG_SOURCES."""
    for name in [source] if source else settings.PREFLIGHT_CATALOG_SOURCES:
        busy = CatalogSync.objects.filter(
            source=name,
            status=CatalogSync.Status.RUNNING,
            started_at__gt=timezone.now() - RUNNING_FOR_AT_MOST,
        ).exists()
        if busy:
            log.info("catalog sync of %s skipped: the previous one still runs", name)
            continue
        sync, _report = import_catalog(source=name, trigger=trigger)
        if sync is not None and sync.status == CatalogSync.Status.FAILED:
            log.warning("catalog sync of %s failed: %s", name, sync.error)
