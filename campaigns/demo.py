"""Demo data for levels and campaigns (`make run`, after portal's demo data): the
data-retention checklist (it applies by itself to tier-1 and tier-2 services in production),
a tier-1 production service of Search at Silver (so it carries both checklists), and the
campaign "every tier-1 service at Silver" due in four weeks, owned by the reviewer. Orders
and Inventory are left as portal's demo made them (the tour in the README relies on them).
Idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_create
from portal import services
from portal.models import ChecklistTemplate, Membership, Service, Team
from portal.templates_io import DEFAULT_TEMPLATE, load_template_file

RETENTION = DEFAULT_TEMPLATE.parent.parent / "data-retention" / "v1.toml"

CAMPAIGN_SLUG = "tier-1-at-silver"


def _tick(service: Service, keys: list[str], actor: User) -> None:
    states = service.item_states.filter(item_key__in=keys).exclude(state__in=("done", "na"))
    for state in states:
        services.item_transition(
            service=service,
            item_key=state.item_key,
            action="done",
            actor=actor,
            seen_version=state.version,
            note="Demo: verified during the readiness review.",
            evidence_url=f"https://wiki.example.com/{service.slug}/{state.item_key}",
        )


def _level_items(template: ChecklistTemplate, upto: str) -> list[str]:
    keys: list[str] = []
    for level in template.levels:
        keys += [r["key"] for r in level["requires"]]
        if level["key"] == upto:
            break
    return keys


@transaction.atomic
def load_campaign_demo(*, template: ChecklistTemplate) -> Campaign | None:
    """Create what is missing; None when the template has no levels (nothing to show)."""
    if not template.levels or Campaign.objects.filter(slug=CAMPAIGN_SLUG).exists():
        return Campaign.objects.filter(slug=CAMPAIGN_SLUG).first()
    outsider = User.objects.filter(username="outsider").first()
    owner = User.objects.filter(username="reviewer").first()
    search = Team.objects.filter(slug="search").first()
    orders = Service.objects.filter(slug="orders").first()
    if not (outsider and owner and search and orders):
        return None  # portal's demo data first (load_demo)
    levels = [level["key"] for level in template.levels]
    services.template_import(data=load_template_file(RETENTION))  # a second checklist
    if not Service.objects.filter(slug="search-api").exists():
        assert Membership.objects.filter(user=outsider, team=search).exists()
        search_api = services.service_create(
            name="Search API",
            slug="search-api",
            team=search,
            template=template,
            tier=1,
            lifecycle=Service.Lifecycle.PRODUCTION,
            description="Full-text search over the catalogue.",
            repository_url="https://git.example.com/search/search-api",
            actor=outsider,
        )
        _tick(search_api, _level_items(template, levels[min(1, len(levels) - 1)]), outsider)
    target = "silver" if "silver" in levels else levels[-1]
    today = timezone.localdate()
    return campaign_create(
        slug=CAMPAIGN_SLUG,
        name=f"Every tier-1 service at {target.capitalize()}",
        description="Tier-1 services carry customer traffic: by the due date each reaches "
        f"{target.capitalize()} on the FastAPI + MongoDB checklist.",
        owner=owner,
        template_key=template.key,
        target_level=target,
        tiers=[1],
        starts_on=today - timedelta(days=3),
        due_on=today + timedelta(days=28),
    )
