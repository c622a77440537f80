"""Levels with exemptions: a service's level per template counts an item excused by name by
an approved, unexpired exemption (in the status it was granted for, or a better one) as
complete. The computation itself is portal.levels; the states are portal's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from portal.levels import SEVERITY
from portal.models import Service
from portal.selectors import TemplateLevel
from portal.selectors import service_levels as portal_service_levels
from reviews.models import Exemption


def exempted_items(service_ids: Iterable[int], *, now: datetime) -> dict[int, dict[str, str]]:
    """Per service, the items approved exemptions in force name, each with the status it was
    granted for (the worst when several name it)."""
    out: dict[int, dict[str, str]] = {}
    rows = Exemption.objects.filter(
        service_id__in=list(service_ids),
        status=Exemption.Status.APPROVED,
        expires_at__gt=now,
    ).values_list("service_id", "granted")
    for service_id, granted in rows:
        mine = out.setdefault(service_id, {})
        for subject, status in (granted or {}).items():
            kind, _, key = subject.partition(":")
            if kind != "item":
                continue
            known = mine.get(key)
            if known is None or SEVERITY.get(status, 0) > SEVERITY.get(known, 0):
                mine[key] = status
    return out


def service_levels(service: Service, *, now: datetime | None = None) -> list[TemplateLevel]:
    now = now or timezone.now()
    exempted = exempted_items([service.pk], now=now).get(service.pk, {})
    return portal_service_levels(service, now=now, exempted=exempted)
