"""Levels and scores on the dashboards: every non-retired service's level and score on each
checklist it carries (reviews.levels, exemptions by name counted). Two layers: the rows are
cached under the head of the audit chain like the readiness pass; below that, each service's
standing is kept in :class:`dashboards.models.LevelStanding`, so the first view after a
change recomputes only the services that changed (or whose ``valid_until`` passed)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import standing as campaign_standing
from campaigns.selectors import state as campaign_state
from core.metrics import CACHE_HITS, CACHE_MISSES
from dashboards.models import LevelStanding
from dashboards.selectors.common import _audit_head
from dashboards.tables import Table
from portal.models import ChecklistTemplate, Service
from reviews.levels import LevelSummary, level_summaries, next_changes

# Level keys in the colours the pages use; any other level key is drawn in the info blue.
LEVEL_COLOURS = {"none": "#a0aec0", "bronze": "#b7712f", "silver": "#8795a8", "gold": "#d4a017"}
LEVEL_COLOUR_DEFAULT = "#2b6cb0"


@dataclass(frozen=True)
class LevelRow:
    service: str
    service_name: str
    team: str
    team_name: str
    tier: int
    lifecycle: str
    template: str
    level: str
    level_name: str
    rank: int
    score: float
    required: str
    meets_required: bool
    next_level: str
    missing: int


def standings(scope: QuerySet[Service]) -> dict[int, list[LevelSummary]]:
    """Each service's summaries, from :class:`dashboards.models.LevelStanding` where a row is
    current, recomputed (reviews.levels.level_summaries) and stored for the others. With the
    dashboards' cache off (PREFLIGHT_DASHBOARD_CACHE_S=0) everything is computed afresh."""
    if not getattr(settings, "PREFLIGHT_DASHBOARD_CACHE_S", 30):
        return level_summaries(scope)
    now = timezone.now()
    out: dict[int, list[LevelSummary]] = {}
    fields = [f.name for f in dataclasses.fields(LevelSummary)]
    for sid, *values in (
        LevelStanding.objects.filter(service__in=scope)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .order_by("service_id", "position")
        .values_list("service_id", *fields)
    ):
        out.setdefault(sid, []).append(LevelSummary(*values))
    stale = set(scope.values_list("id", flat=True)) - set(out)
    if stale:
        subset = Service.objects.filter(pk__in=sorted(stale))
        fresh = level_summaries(subset, now=now)
        until = next_changes(subset, now=now)
        with transaction.atomic():
            LevelStanding.objects.filter(service_id__in=stale).delete()
            LevelStanding.objects.bulk_create(
                [
                    LevelStanding(
                        service_id=sid,
                        position=position,
                        computed_at=now,
                        valid_until=until.get(sid),
                        **dataclasses.asdict(summary),
                    )
                    for sid, summaries in fresh.items()
                    for position, summary in enumerate(summaries)
                ],
                ignore_conflicts=True,  # another request stored the same meanwhile
            )
        out.update(fresh)
    return out


def _rows(service_filter: Q) -> list[LevelRow]:
    scope = Service.objects.exclude(lifecycle=Service.Lifecycle.RETIRED).filter(service_filter)
    services = list(
        scope.values_list(
            "id", "slug", "name", "team__slug", "team__name", "tier", "lifecycle", "template_id"
        )
    )
    levels = standings(scope)
    out = []
    for sid, slug, name, team, team_name, tier, lifecycle, _tid in services:
        for t in levels[sid]:
            out.append(
                LevelRow(
                    service=slug,
                    service_name=name,
                    team=team,
                    team_name=team_name,
                    tier=tier,
                    lifecycle=lifecycle,
                    template=t.template_key,
                    level=t.level_key,
                    level_name=t.level_name,
                    rank=t.rank,
                    score=t.score,
                    required=t.required,
                    meets_required=t.meets_required,
                    next_level=t.next_level,
                    missing=t.missing,
                )
            )
    # Lowest level first, then lowest score: who needs help comes first.
    out.sort(key=lambda r: (r.rank, r.score, r.team, r.service))
    return out


def level_rows(service_filter: Q | None = None) -> list[LevelRow]:
    service_filter = service_filter or Q()
    timeout = getattr(settings, "PREFLIGHT_DASHBOARD_CACHE_S", 30)
    if not timeout:
        return _rows(service_filter)
    key = f"dashboards:levels:{_audit_head()}:{hash(str(service_filter))}"
    cached = cache.get(key)
    if cached is None:
        CACHE_MISSES.labels("dashboards-levels").inc()
        cached = _rows(service_filter)
        cache.set(key, cached, timeout)
    else:
        CACHE_HITS.labels("dashboards-levels").inc()
    return cast(list[LevelRow], cached)


LEVEL_COLUMNS = [
    "service",
    "service_name",
    "team",
    "tier",
    "template",
    "level",
    "rank",
    "score",
    "required",
    "meets_required",
    "next_level",
    "missing",
]


def service_levels_table(rows: list[LevelRow] | None = None) -> Table:
    """Every service's level and score per template, lowest level and score first."""
    rows = level_rows() if rows is None else rows
    return Table(
        "service_levels",
        "Levels and scores by service (lowest first)",
        LEVEL_COLUMNS,
        [
            (
                r.service,
                r.service_name,
                r.team,
                r.tier,
                r.template,
                r.level or "none",
                r.rank,
                r.score,
                r.required or None,
                r.meets_required,
                r.next_level or None,
                r.missing,
            )
            for r in rows
        ],
    )


def levels_by_team(rows: list[LevelRow] | None = None) -> Table:
    """Per team and template, how many services are at each level (and their mean score)."""
    rows = level_rows() if rows is None else rows
    counts: Counter[tuple[str, str, str, str, int]] = Counter()
    scores: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        counts[(r.team, r.team_name, r.template, r.level or "none", r.rank)] += 1
        scores.setdefault((r.team, r.template), []).append(r.score)
    table = Table(
        "levels",
        "Services by level, per team",
        ["team", "team_name", "template", "level", "rank", "services", "mean_score"],
    )
    for (team, name, template, level, rank), n in sorted(
        counts.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][4])
    ):
        mean = scores[(team, template)]
        table.rows.append((team, name, template, level, rank, n, round(sum(mean) / len(mean), 1)))
    return table


def campaigns_table(rows: list[LevelRow] | None = None, *, today: date | None = None) -> Table:
    """Every campaign not over for more than a week: due date, state and how many services
    in scope are there. A campaign whose target is a level alone is counted from the level
    rows (no query per campaign); one that also names items or checks asks
    campaigns.selectors for its standing."""
    rows = level_rows() if rows is None else rows
    today = today or timezone.localdate()
    table = Table(
        "campaigns",
        "Campaigns",
        ["campaign", "name", "target", "due_on", "state", "in_scope", "there", "pct", "url"],
    )
    campaigns = list(
        Campaign.objects.filter(due_on__gte=today - timedelta(days=7)).prefetch_related("teams")
    )
    orders = {
        t.key: [level["key"] for level in t.levels]
        for t in ChecklistTemplate.objects.filter(key__in={c.template_key for c in campaigns})
        .only("key", "levels")
        .order_by("key", "version")  # the newest version last: it wins
    }
    for campaign in campaigns:
        if campaign.target_items or campaign.target_checks:
            standing = campaign_standing(campaign)
            in_scope, there = len(standing), sum(s.there for s in standing)
            state = campaign_state(campaign, standing, today)
        else:
            teams = {t.slug for t in campaign.teams.all()}
            levels = orders.get(campaign.template_key, [])
            needed = (
                levels.index(campaign.target_level) + 1 if campaign.target_level in levels else 0
            )
            mine = [
                r
                for r in rows
                if r.template == campaign.template_key
                and (not campaign.tiers or r.tier in campaign.tiers)
                and (not teams or r.team in teams)
                and (not campaign.lifecycles or r.lifecycle in campaign.lifecycles)
            ]
            in_scope, there = len(mine), sum(r.rank >= needed for r in mine)
            state = campaign.calendar_state(today)
            if today >= campaign.starts_on and mine and there == in_scope:
                state = "done"
        table.rows.append(
            (
                campaign.slug,
                campaign.name,
                campaign.target_text,
                campaign.due_on,
                state,
                in_scope,
                there,
                round(100 * there / in_scope) if in_scope else 100,
                reverse("campaigns:detail", args=[campaign.slug]),
            )
        )
    return table
