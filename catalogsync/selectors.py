"""Reads of the catalog import: the last sync of each source, a sync's changes and refusals,
and what left the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from catalogsync.models import CatalogEntity, CatalogSync


@dataclass(frozen=True)
class SourceStatus:
    source: str
    configured: bool
    last: CatalogSync | None


def sources() -> list[SourceStatus]:
    """Each configured source and each source synced before, with its latest sync."""
    configured = list(settings.PREFLIGHT_CATALOG_SOURCES)
    synced = list(
        CatalogSync.objects.order_by("source").values_list("source", flat=True).distinct()
    )
    names = configured + [s for s in synced if s not in configured]
    return [
        SourceStatus(
            source=name,
            configured=name in configured,
            last=CatalogSync.objects.filter(source=name).order_by("-id").first(),
        )
        for name in names
    ]


def recent_syncs(limit: int = 20) -> QuerySet[CatalogSync]:
    return CatalogSync.objects.select_related("triggered_by").order_by("-id")[:limit]


def removed_entities() -> QuerySet[CatalogEntity]:
    """Entities their source no longer has: kept, for an admin to decide."""
    return (
        CatalogEntity.objects.filter(removed_at__isnull=False)
        .select_related("service", "team")
        .order_by("-removed_at", "ref")
    )
