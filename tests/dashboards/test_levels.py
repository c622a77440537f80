"""Levels and scores on the portfolio: each service's level per template, lowest first,
coloured by level, in the exports too."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from portal.models import ItemState
from tests.dashboards.conftest import make_service
from tests.reviews.test_levels import BRONZE


def test_the_portfolio_lists_each_services_level_and_score_lowest_first(
    team, template, admin_client
) -> None:
    staff_client = admin_client
    make_service(team, template, "low", tier=1)
    bronze = make_service(team, template, "bronze", tier=2)
    now = timezone.now()
    ItemState.objects.filter(service=bronze, item_key__in=BRONZE).update(
        state="done", expires_at=now + timedelta(days=9)
    )
    page = staff_client.get("/dashboards/").content.decode()
    assert page.index('data-service="low"') < page.index('data-service="bronze"')
    assert '<tr data-service="bronze" data-level="bronze"' in page
    assert '<tr data-service="low" data-level="none" class="below-required"' in page
    assert 'id="chart-levels"' in page  # the levels-by-team figure

    doc = json.loads(staff_client.get("/dashboards/data/service_levels.json").content)
    rows = {r["service"]: r for r in doc["rows"]}
    assert rows["bronze"]["level"] == "bronze" and rows["bronze"]["next_level"] == "silver"
    assert rows["low"]["required"] == "gold" and rows["low"]["meets_required"] is False
    assert 0 < rows["bronze"]["score"] < 100 and rows["low"]["score"] < rows["bronze"]["score"]
    csv = staff_client.get("/dashboards/data/levels.csv").content.decode()
    assert csv.splitlines()[0] == "team,team_name,template,level,rank,services,mean_score"


def test_the_portfolio_lists_campaigns_with_due_date_and_progress_counted_from_levels(
    team, template, admin_client, admin_user
) -> None:
    from datetime import date

    from campaigns.services import campaign_create
    from dashboards.selectors.levels import campaigns_table

    make_service(team, template, "low", tier=1)
    bronze = make_service(team, template, "bronze", tier=1)
    make_service(team, template, "other-tier", tier=2)
    ItemState.objects.filter(service=bronze, item_key__in=BRONZE).update(
        state="done", expires_at=timezone.now() + timedelta(days=9)
    )
    due = date.today() + timedelta(days=10)
    common = {"owner": admin_user, "template_key": "fastapi-mongo", "tiers": [1]}
    start = date.today() - timedelta(days=1)
    campaign_create(name="Tier 1 at Bronze", target_level="bronze", starts_on=start, due_on=due,
                    **common)  # fmt: skip
    campaign_create(name="Tier 1 with tracing", target_level="bronze", starts_on=start,
                    due_on=due, target_items=["observability.tracing"], **common)  # fmt: skip
    rows = {r["campaign"]: r for r in campaigns_table().records()}
    assert (rows["tier-1-at-bronze"]["in_scope"], rows["tier-1-at-bronze"]["there"]) == (2, 1)
    assert (
        rows["tier-1-at-bronze"]["state"] == "active" and rows["tier-1-at-bronze"]["due_on"] == due
    )
    assert (rows["tier-1-with-tracing"]["in_scope"], rows["tier-1-with-tracing"]["there"]) == (2, 0)
    page = admin_client.get("/dashboards/").content.decode()
    assert '<tr data-campaign="tier-1-at-bronze">' in page and due.isoformat() in page
