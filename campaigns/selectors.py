"""Reads of campaigns: which services are in scope, where each stands now (and what it
lacks), and the progress per team over time, rebuilt from the audit chain.

*Now* is read from the item states (reviews.levels: exemptions in force count). *Over
time* is replayed from the sign-off history: every change of an item is an audit event
(portal.audit), so the states at any past moment are the last ``to_state`` of each item up
to it (an item with no event yet is open, as a new service's items are). Exemptions count
from their approval to their expiry, check results from when they were recorded. What the
replay cannot know is taken as it is now: a service's tier, team and lifecycle (its scope),
and the template's levels (carried by item keys, they survive upgrades)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign
from checks.models import CheckResult
from portal.levels import COMPLETE, Item, Missing, Plan, evaluate, lacking, levels_from_json, plan
from portal.models import AuditEvent, ChecklistTemplate, Service, TemplateItem
from portal.selectors import automatic_templates
from reviews.levels import Standings, standings
from reviews.models import Exemption

HISTORY_POINTS = 8


def _template_q(template_key: str) -> Q:
    """Services carrying the template ``template_key``: as their own, or because it applies
    by itself to their tier and lifecycle."""
    carried = Q(template__key=template_key)
    for t in automatic_templates():
        if t.key == template_key:
            tiers, lifecycles = t.applies_to.get("tiers", []), t.applies_to.get("lifecycles", [])
            auto = Q(tier__in=tiers) if tiers else Q()
            auto &= Q(lifecycle__in=lifecycles) if lifecycles else ~Q(lifecycle="retired")
            carried |= auto
    return carried


def services_in_scope(campaign: Campaign) -> QuerySet[Service]:
    qs = Service.objects.filter(_template_q(campaign.template_key))
    if campaign.tiers:
        qs = qs.filter(tier__in=campaign.tiers)
    if campaign.lifecycles:
        qs = qs.filter(lifecycle__in=campaign.lifecycles)
    else:
        qs = qs.exclude(lifecycle=Service.Lifecycle.RETIRED)
    team_ids = list(campaign.teams.values_list("pk", flat=True))
    if team_ids:
        qs = qs.filter(team_id__in=team_ids)
    return qs


@dataclass(frozen=True)
class Standing:
    """One service in scope now: there or not, and what it lacks (items first by level,
    then the target's items, then the target's checks as ``check:KEY``)."""

    service_id: int
    slug: str
    name: str
    team_id: int
    team: str
    team_name: str
    tier: int
    level: str
    lacks: tuple[Missing, ...]

    @property
    def there(self) -> bool:
        return not self.lacks


def _latest_checks(
    service_ids: Iterable[int], keys: list[str], until: datetime | None = None
) -> dict[tuple[int, str], str]:
    """The latest result status of each (service, check key)."""
    if not keys:
        return {}
    qs = CheckResult.objects.filter(run__service_id__in=list(service_ids), key__in=keys)
    if until is not None:
        qs = qs.filter(created_at__lte=until)
    latest: dict[tuple[int, str], str] = {}
    for sid, key, status in qs.order_by("id").values_list("run__service_id", "key", "status"):
        latest[(sid, key)] = status
    return latest


def _check_lacks(campaign: Campaign, sid: int, latest: dict[tuple[int, str], str]) -> list[Missing]:
    out = []
    for key in campaign.target_checks:
        status = latest.get((sid, key), "missing")
        if status != CheckResult.Status.PASS:
            out.append(Missing(f"check:{key}", key, status, ""))
    return out


def standing(
    campaign: Campaign, *, now: datetime | None = None, only: Service | None = None
) -> list[Standing]:
    """Every service in scope (or just ``only``, if in scope), as it stands now, the ones not
    there first."""
    scope = services_in_scope(campaign)
    if only is not None:
        scope = scope.filter(pk=only.pk)
    st = standings(scope, now=now)
    names = {
        row[0]: row[1:]
        for row in scope.values_list(
            "id", "slug", "name", "team_id", "team__slug", "team__name", "tier"
        )
    }
    latest = _latest_checks(names, campaign.target_checks)
    out = []
    for sid, _tier, tid in st.rows:
        if st.templates[tid].key != campaign.template_key:
            continue  # another checklist the service carries
        steps = st.plans[tid]
        incomplete, exempted = st.incomplete.get(sid, {}), st.exempted.get(sid, {})
        lacks = _goal_lacks(campaign, steps, incomplete, exempted)
        lacks += _check_lacks(campaign, sid, latest)
        result_rank = _rank_name(st, sid, tid)
        slug, name, team_id, team, team_name, tier = names[sid]
        out.append(
            Standing(sid, slug, name, team_id, team, team_name, tier, result_rank, tuple(lacks))
        )
    out.sort(key=lambda s: (s.there, s.team_name, s.name))
    return out


def _rank_name(st: Standings, sid: int, tid: int) -> str:
    result = evaluate(st.plans[tid], st.incomplete.get(sid, {}), st.exempted.get(sid))
    return result.level_name


def _goal_lacks(
    campaign: Campaign, steps: Plan, incomplete: dict[str, str], exempted: dict[str, str]
) -> list[Missing]:
    level = campaign.target_level if campaign.target_level in _level_keys(steps) else ""
    return lacking(steps, incomplete, exempted, level_key=level, item_keys=campaign.target_items)


def _level_keys(steps: Plan) -> list[str]:
    return [lv.key for lv in steps.levels]


@dataclass(frozen=True)
class TeamProgress:
    team: str
    team_name: str
    in_scope: int
    there: int

    @property
    def pct(self) -> int:
        return round(100 * self.there / self.in_scope) if self.in_scope else 100


def by_team(rows: list[Standing]) -> list[TeamProgress]:
    teams: dict[tuple[str, str], list[int]] = {}
    for s in rows:
        counts = teams.setdefault((s.team, s.team_name), [0, 0])
        counts[0] += 1
        counts[1] += s.there
    return [
        TeamProgress(team, name, n, there)
        for (team, name), (n, there) in sorted(teams.items(), key=lambda kv: kv[0][1])
    ]


# --- over time, from the audit chain ---------------------------------------------------------


STEP_SCOPE = 100  # services in scope up to which every change is a point of its own
STEP_EVENTS = 200  # ...and at most this many changes


def sample_points(campaign: Campaign, *, now: datetime | None = None) -> list[datetime]:
    """The moments the progress chart shows: the end of evenly spaced days from the start
    to today (or to the due date plus a week, if that came first), and now. For a small
    scope, also the moment of every change of an item in scope since the start (the chart
    then steps exactly where the sign-off history does)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if today < campaign.starts_on:
        return []
    last = min(today, max(campaign.due_on + timedelta(days=7), campaign.starts_on))
    span = (last - campaign.starts_on).days
    step = max(1, -(-span // (HISTORY_POINTS - 1))) if span else 1
    days = [campaign.starts_on + timedelta(days=d) for d in range(0, span + 1, step)]
    zone = timezone.get_current_timezone()
    points = {datetime.combine(d, time.max).replace(tzinfo=zone) for d in days if d < today}
    scope = services_in_scope(campaign)
    if scope.count() <= STEP_SCOPE:
        start = datetime.combine(campaign.starts_on, time.min).replace(tzinfo=zone)
        changes = list(
            AuditEvent.objects.filter(service__in=scope, created_at__gte=start, created_at__lte=now)
            .exclude(to_state="")
            .order_by("-seq")
            .values_list("created_at", flat=True)[: STEP_EVENTS + 1]
        )
        if len(changes) <= STEP_EVENTS:
            points.update(changes)
    return sorted({p for p in points if p < now} | {now})


@dataclass(frozen=True)
class ProgressPoint(TeamProgress):
    """A team's progress at one moment."""

    at: datetime = field(kw_only=True)


def history(campaign: Campaign, points: list[datetime]) -> list[ProgressPoint]:
    """Progress per team at each of ``points`` (ascending), replayed from the audit chain."""
    if not points:
        return []
    points = sorted(points)
    # The campaign's template for each service: its own, or the automatic one it carries.
    automatic = {t.key: t.pk for t in automatic_templates()}
    scope = []
    for sid, team, name, created, tid, key in services_in_scope(campaign).values_list(
        "id", "team__slug", "team__name", "created_at", "template_id", "template__key"
    ):
        mine = tid if key == campaign.template_key else automatic[campaign.template_key]
        scope.append((sid, team, name, created, mine))
    ids = [row[0] for row in scope]
    template_ids = {row[4] for row in scope}
    items: dict[int, dict[str, Item]] = {tid: {} for tid in template_ids}
    levels_of = {}
    for tid, key, weight, starts in TemplateItem.objects.filter(
        template_id__in=template_ids
    ).values_list("template_id", "key", "weight", "effective_from"):
        items[tid][key] = Item(key, "", weight, starts, "done")
    for t in ChecklistTemplate.objects.filter(pk__in=template_ids).only("levels"):
        levels_of[t.pk] = levels_from_json(t.levels)
    events = (
        AuditEvent.objects.filter(service_id__in=ids, created_at__lte=points[-1])
        .exclude(item_key="")
        .exclude(to_state="")
        .order_by("seq")
        .values_list("service_id", "item_key", "to_state", "created_at")
        .iterator(chunk_size=5000)
    )
    exemptions = list(
        Exemption.objects.filter(
            service_id__in=ids, status=Exemption.Status.APPROVED, approved_at__isnull=False
        ).values_list("service_id", "granted", "approved_at", "expires_at")
    )
    states: dict[int, dict[str, str]] = {sid: {} for sid in ids}
    pending = next(events, None)
    out: list[ProgressPoint] = []
    for at in points:
        while pending is not None and pending[3] <= at:
            sid, key, to_state, _when = pending
            states[sid][key] = to_state
            pending = next(events, None)
        today = timezone.localdate(at)
        plans = {tid: plan(levels_of[tid], items[tid], today=today) for tid in template_ids}
        exempted = _exempted_at(exemptions, at)
        latest = _latest_checks(ids, campaign.target_checks, until=at)
        teams: dict[tuple[str, str], list[int]] = {}
        for sid, team, team_name, created, tid in scope:
            if created > at:
                continue
            incomplete = {
                key: states[sid].get(key, "open")
                for key in items[tid]
                if states[sid].get(key, "open") not in COMPLETE
            }
            lacks = _goal_lacks(campaign, plans[tid], incomplete, exempted.get(sid, {}))
            lacks += _check_lacks(campaign, sid, latest)
            counts = teams.setdefault((team, team_name), [0, 0])
            counts[0] += 1
            counts[1] += not lacks
        for (team, team_name), (n, there) in sorted(teams.items(), key=lambda kv: kv[0][1]):
            out.append(ProgressPoint(team, team_name, n, there, at=at))
    return out


def _exempted_at(
    exemptions: list[tuple[int, Any, datetime | None, datetime]], at: datetime
) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for sid, granted, approved, expires in exemptions:
        if approved is not None and approved <= at < expires:
            for subject, status in (granted or {}).items():
                kind, _, key = subject.partition(":")
                if kind == "item":
                    out.setdefault(sid, {})[key] = status
    return out


# --- lists and exports ----------------------------------------------------------------------


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("owner").prefetch_related("teams")


def campaigns_of(service: Service, *, today: date | None = None) -> list[Campaign]:
    """The campaigns whose scope holds ``service`` (not yet ended more than a week ago)."""
    today = today or timezone.localdate()
    out = []
    for campaign in campaign_list().filter(
        template_key=service.template.key, due_on__gte=today - timedelta(days=7)
    ):
        if services_in_scope(campaign).filter(pk=service.pk).exists():
            out.append(campaign)
    return out


def state(campaign: Campaign, rows: list[Standing], today: date) -> str:
    if today >= campaign.starts_on and rows and all(s.there for s in rows):
        return "done"
    return campaign.calendar_state(today)


PROGRESS_COLUMNS = ["at", "team", "team_name", "in_scope", "there", "pct"]
SERVICE_COLUMNS = ["service", "service_name", "team", "tier", "level", "there", "lacks"]


def progress_rows(points: list[ProgressPoint]) -> list[list[Any]]:
    return [[p.at, p.team, p.team_name, p.in_scope, p.there, p.pct] for p in points]


def service_rows(rows: list[Standing]) -> list[list[Any]]:
    return [
        [s.slug, s.name, s.team, s.tier, s.level, s.there, " ".join(m.key for m in s.lacks)]
        for s in rows
    ]


def campaign_summary(campaign: Campaign, rows: list[Standing], today: date) -> dict[str, Any]:
    there = sum(s.there for s in rows)
    return {
        "slug": campaign.slug,
        "name": campaign.name,
        "owner": campaign.owner.get_username(),
        "target": campaign.target_text,
        "scope": campaign.scope_text,
        "starts_on": campaign.starts_on.isoformat(),
        "due_on": campaign.due_on.isoformat(),
        "state": state(campaign, rows, today),
        "in_scope": len(rows),
        "there": there,
    }


def teams_behind(rows: list[Standing]) -> dict[str, list[Standing]]:
    """Per team slug, its services not there yet (teams all there are left out)."""
    out: dict[str, list[Standing]] = {}
    for s in rows:
        if not s.there:
            out.setdefault(s.team, []).append(s)
    return out
