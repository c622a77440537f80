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
