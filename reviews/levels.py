"""Levels with exemptions: a service's level per template counts an item excused by name by
an approved, unexpired exemption (in the status it was granted for, or a better one) as
complete. The computation itself is portal.levels; the states are portal's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from django.db.models import F, Q
from django.utils import timezone

from portal.levels import (
    COMPLETE,
    SEVERITY,
    Item,
    compute,
    item_status,
    levels_from_json,
)
from portal.models import ChecklistTemplate, ItemState, Service, TemplateItem
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


def levels_by_service(
    services: Iterable[tuple[int, int, int]], *, now: datetime | None = None
) -> dict[int, list[TemplateLevel]]:
    """Levels of many services at once — ``(service id, tier, template id)`` each — from three
    queries (templates and items, the states that are not complete, exemptions in force),
    however many services there are. A state not returned is complete."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rows = list(services)
    template_ids = {tid for _sid, _tier, tid in rows}
    templates = {
        t.pk: t
        for t in ChecklistTemplate.objects.filter(pk__in=template_ids).only(
            "key", "name", "version", "levels", "tier_levels"
        )
    }
    parsed = {tid: levels_from_json(t.levels) for tid, t in templates.items()}
    base: dict[int, dict[str, Item]] = {tid: {} for tid in template_ids}
    for tid, key, title, weight, starts in TemplateItem.objects.filter(
        template_id__in=template_ids
    ).values_list("template_id", "key", "title", "weight", "effective_from"):
        base[tid][key] = Item(key, title, weight, starts, "done")
    not_complete = ~Q(state__in=COMPLETE) | Q(state="done", expires_at__lt=now)
    incomplete: dict[int, dict[str, str]] = {}
    for sid, key, state, expires in (
        ItemState.objects.filter(service_id__in=[r[0] for r in rows])
        .filter(item__template_id=F("service__template_id"))
        .filter(not_complete)
        .values_list("service_id", "item_key", "state", "expires_at")
    ):
        incomplete.setdefault(sid, {})[key] = item_status(state, expires, now)
    exempted = exempted_items([r[0] for r in rows], now=now)
    variants: dict[tuple[int, str, str], Item] = {}
    out: dict[int, list[TemplateLevel]] = {}
    for sid, tier, tid in rows:
        items = dict(base[tid])
        for key, status in incomplete.get(sid, {}).items():
            if key in items:
                variant = variants.get((tid, key, status))
                if variant is None:
                    variant = variants[(tid, key, status)] = replace(items[key], status=status)
                items[key] = variant
        result = compute(parsed[tid], items, today=today, exempted=exempted.get(sid, {}))
        t = templates[tid]
        required = t.tier_levels.get(str(tier), "")
        out[sid] = [TemplateLevel(t.key, t.name, t.version, required, result)]
    return out
