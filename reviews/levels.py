"""Levels with exemptions: a service's level per template counts an item excused by name by
an approved, unexpired exemption (in the status it was granted for, or a better one) as
complete. The computation itself is portal.levels; the states are portal's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from portal.levels import (
    COMPLETE,
    SEVERITY,
    Item,
    Plan,
    evaluate,
    levels_from_json,
    plan,
)
from portal.models import ChecklistTemplate, ItemState, Service, TemplateItem
from portal.selectors import TemplateLevel, automatic_templates
from portal.selectors import service_levels as portal_service_levels
from reviews.models import Exemption


def exempted_items(
    service_ids: Iterable[int] | QuerySet[Any], *, now: datetime
) -> dict[int, dict[str, str]]:
    """Per service, the items approved exemptions in force name, each with the status it was
    granted for (the worst when several name it)."""
    out: dict[int, dict[str, str]] = {}
    rows = Exemption.objects.filter(
        service_id__in=service_ids if isinstance(service_ids, QuerySet) else list(service_ids),
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


def checklist_rows(services: QuerySet[Service]) -> list[tuple[int, int, int]]:
    """``(service id, tier, template id)`` for every checklist each service carries: its own
    template, then each automatic one that applies to it (portal.selectors.service_templates)."""
    automatic = automatic_templates()
    rows = []
    for sid, tier, tid, key, lifecycle in services.values_list(
        "id", "tier", "template_id", "template__key", "lifecycle"
    ):
        rows.append((sid, tier, tid))
        rows += [
            (sid, tier, t.pk) for t in automatic if t.key != key and t.applies(tier, lifecycle)
        ]
    return rows


@dataclass(frozen=True)
class Standings:
    """What the levels of many services are computed from, read once: the services
    ``(id, tier, template id)``, their templates, each template's items and plan, each
    service's items that are not complete (key -> status; an item not named is complete)
    and the items exemptions in force excuse. Campaigns read the same."""

    now: datetime
    rows: list[tuple[int, int, int]]
    templates: dict[int, ChecklistTemplate]
    items: dict[int, dict[str, Item]]
    plans: dict[int, Plan]
    incomplete: dict[int, dict[str, str]]
    exempted: dict[int, dict[str, str]]


def _templates(template_ids: set[int]) -> dict[int, ChecklistTemplate]:
    """The templates by id, with only what levels need."""
    return {
        t.pk: t
        for t in ChecklistTemplate.objects.filter(pk__in=template_ids).only(
            "key", "name", "version", "levels", "tier_levels", "applies_to"
        )
    }


def standings(services: QuerySet[Service], *, now: datetime | None = None) -> Standings:
    """Six queries (services, templates, items, the states that are not complete, the ticks
    that expired, exemptions in force), however many services there are. The part that
    does not depend on a service is planned once per template."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rows = checklist_rows(services)
    template_ids = {tid for _sid, _tier, tid in rows}
    templates = _templates(template_ids)
    base: dict[int, dict[str, Item]] = {tid: {} for tid in template_ids}
    for tid, key, title, weight, starts in TemplateItem.objects.filter(
        template_id__in=template_ids
    ).values_list("template_id", "key", "title", "weight", "effective_from"):
        base[tid][key] = Item(key, title, weight, starts, "done")
    plans = {
        tid: plan(levels_from_json(t.levels), base[tid], today=today)
        for tid, t in templates.items()
    }
    current = ItemState.objects.filter(
        service__in=services.values("id"), item__template_id__in=template_ids
    )
    incomplete: dict[int, dict[str, str]] = {}
    for sid, key, state in current.exclude(state__in=COMPLETE).values_list(
        "service_id", "item_key", "state"
    ):
        incomplete.setdefault(sid, {})[key] = state
    for sid, key in current.filter(state="done", expires_at__lt=now).values_list(
        "service_id", "item_key"
    ):
        incomplete.setdefault(sid, {})[key] = "expired"
    return Standings(
        now=now,
        rows=rows,
        templates=templates,
        items=base,
        plans=plans,
        incomplete=incomplete,
        exempted=exempted_items(services.values("id"), now=now),
    )


def levels_by_service(
    services: QuerySet[Service], *, now: datetime | None = None
) -> dict[int, list[TemplateLevel]]:
    """Levels of many services at once (those of the queryset): see :func:`standings`."""
    st = standings(services, now=now)
    out: dict[int, list[TemplateLevel]] = {}
    for sid, tier, tid in st.rows:
        result = evaluate(st.plans[tid], st.incomplete.get(sid, {}), st.exempted.get(sid))
        t = st.templates[tid]
        required = t.tier_levels.get(str(tier), "")
        out.setdefault(sid, []).append(TemplateLevel(t.key, t.name, t.version, required, result))
    return out


@dataclass(frozen=True)
class LevelSummary:
    """A service's standing on one template in a line: what the dashboards list."""

    template_key: str
    required: str
    rank: int
    level_key: str
    level_name: str
    next_level: str
    score: float
    missing: int  # requirements the next level still needs
    meets_required: bool

    @classmethod
    def of(cls, t: TemplateLevel) -> LevelSummary:
        nxt = t.result.next_level
        return cls(
            template_key=t.template_key,
            required=t.required,
            rank=t.result.rank,
            level_key=t.result.level_key,
            level_name=t.result.level_name,
            next_level=nxt.key if nxt else "",
            score=t.result.score,
            missing=len(t.result.missing),
            meets_required=t.meets_required,
        )


def level_summaries(
    services: QuerySet[Service], *, now: datetime | None = None
) -> dict[int, list[LevelSummary]]:
    """Levels of many services at once, counted in the database: per template, one grouped
    query counts each service's incomplete requirements per level and incomplete items per
    weight; nothing per item travels to Python. Services with an exemption in force (few)
    take the detailed path (:func:`levels_by_service`), which knows what each exemption
    covers. The same answers as :func:`service_levels` (a test compares them)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rows = checklist_rows(services)
    exempted = exempted_items(services.values("id"), now=now)
    template_ids = {tid for _sid, _tier, tid in rows}
    templates = _templates(template_ids)
    items: dict[int, dict[str, Item]] = {tid: {} for tid in template_ids}
    item_ids: dict[int, list[int]] = {tid: [] for tid in template_ids}
    for pk, tid, key, weight, starts in TemplateItem.objects.filter(
        template_id__in=template_ids
    ).values_list("id", "template_id", "key", "weight", "effective_from"):
        items[tid][key] = Item(key, "", weight, starts, "done")
        item_ids[tid].append(pk)
    incomplete = ~Q(state__in=COMPLETE) | Q(state="done", expires_at__lt=now)

    def scope(tid: int) -> Q:
        if not templates[tid].applies_to:  # only ever a service's own template
            return Q(service__in=services.filter(template_id=tid))
        return Q(service_id__in=sorted({sid for sid, _tier, t in rows if t == tid}))

    out: dict[int, list[LevelSummary]] = {}
    for tid, template in templates.items():
        steps = plan(levels_from_json(template.levels), items[tid], today=today)
        annotations: dict[str, Any] = {}
        for index in range(len(steps.levels)):
            keys = [key for i, key, _title in steps.active if i == index]
            annotations[f"l{index}"] = Count("id", filter=Q(item_key__in=keys))
        by_weight: dict[tuple[str, int], list[str]] = {}
        for kind, weights in (("c", steps.current_weights), ("u", steps.upcoming_weights)):
            for key, weight in weights.items():
                by_weight.setdefault((kind, weight), []).append(key)
        for (kind, weight), keys in by_weight.items():
            annotations[f"{kind}{weight}"] = Count("id", filter=incomplete & Q(item_key__in=keys))
        counts = {
            row["service_id"]: row
            for row in ItemState.objects.filter(
                incomplete,
                scope(tid),
                item_id__in=item_ids[tid],
            )
            .values("service_id")
            .annotate(**annotations)
            .order_by()
        }
        for sid, tier, row_tid in rows:
            if row_tid != tid or sid in exempted:
                continue
            row = counts.get(sid, {})
            per_level = [row.get(f"l{i}", 0) for i in range(len(steps.levels))]
            rank = next((i for i, n in enumerate(per_level) if n), len(steps.levels))
            open_current = sum(w * row.get(f"c{w}", 0) for kind, w in by_weight if kind == "c")
            open_ahead = sum(w * row.get(f"u{w}", 0) for kind, w in by_weight if kind == "u")
            total = steps.total_current + steps.total_upcoming - open_ahead
            level = steps.levels[rank - 1] if rank else None
            nxt = steps.levels[rank] if rank < len(steps.levels) else None
            required = template.tier_levels.get(str(tier), "")
            keys = [lv.key for lv in steps.levels]
            out.setdefault(sid, []).append(
                LevelSummary(
                    template_key=template.key,
                    required=required,
                    rank=rank,
                    level_key=level.key if level else "",
                    level_name=level.name if level else "none",
                    next_level=nxt.key if nxt else "",
                    score=round(100 * (total - open_current) / total, 1) if total else 100.0,
                    missing=per_level[rank] if nxt else 0,
                    meets_required=not required
                    or required not in keys
                    or rank > keys.index(required),
                )
            )
    if exempted:
        detailed = levels_by_service(services.filter(pk__in=list(exempted)), now=now)
        for sid, levels in detailed.items():
            out[sid] = [LevelSummary.of(t) for t in levels]
    order = {(sid, templates[tid].key): i for i, (sid, _tier, tid) in enumerate(rows)}
    for sid, summaries in out.items():
        summaries.sort(key=lambda summary: order[(sid, summary.template_key)])
    return out


def next_changes(services: QuerySet[Service], *, now: datetime) -> dict[int, datetime | None]:
    """Per service, the first moment after ``now`` when time alone could change its levels:
    a done item expiring, an exemption in force running out, or a requirement (or item)
    starting to count. None: nothing scheduled."""
    out: dict[int, datetime | None] = {}

    def earliest(sid: int, at: datetime | None) -> None:
        if at is not None and (out.get(sid) is None or at < out[sid]):  # type: ignore[operator]
            out[sid] = at

    for sid, at in (
        ItemState.objects.filter(service__in=services, state="done", expires_at__gt=now)
        .values("service_id")
        .annotate(at=Min("expires_at"))
        .values_list("service_id", "at")
    ):
        earliest(sid, at)
    for sid, at in (
        Exemption.objects.filter(
            service__in=services, status=Exemption.Status.APPROVED, expires_at__gt=now
        )
        .values("service_id")
        .annotate(at=Min("expires_at"))
        .values_list("service_id", "at")
    ):
        earliest(sid, at)
    today = timezone.localdate(now)
    rows = checklist_rows(services)
    starts: dict[int, datetime | None] = {}
    for t in ChecklistTemplate.objects.filter(pk__in={tid for _s, _t, tid in rows}):
        dates = [
            date.fromisoformat(r["effective_from"])
            for level in t.levels
            for r in level["requires"]
            if r.get("effective_from")
        ]
        dates += [d for d in t.items.values_list("effective_from", flat=True) if d]
        ahead = [d for d in dates if d > today]
        starts[t.pk] = (
            timezone.make_aware(datetime.combine(min(ahead), time.min)) if ahead else None
        )
    for sid, _tier, tid in rows:
        earliest(sid, starts.get(tid))
    return out
