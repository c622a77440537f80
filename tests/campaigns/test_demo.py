"""Acceptance 1 with the demo data: the portfolio shows each service's level per template,
and the campaign "every tier-1 service at Silver" shows its progress per team over time."""

from __future__ import annotations

import json

from django.core.management import call_command

from campaigns.models import Campaign
from portal.audit import verify_chain
from portal.models import Service
from reviews.levels import service_levels


def test_the_demo_shows_levels_and_the_tier_1_campaign(
    template, settings, tmp_path, client, capsys
) -> None:
    settings.VAR_DIR = tmp_path
    call_command("load_demo")
    call_command("load_demo_campaigns")
    assert "Every tier-1 service at Silver" in capsys.readouterr().out
    campaign = Campaign.objects.get()
    levels = {s.slug: service_levels(s)[0].result.level_key for s in Service.objects.all()}
    assert levels["search-api"] == "silver" and set(levels) == {"orders", "inventory", "search-api"}
    client.force_login(campaign.owner)
    portfolio = client.get("/dashboards/").content.decode()
    for slug, level in levels.items():
        assert f'<tr data-service="{slug}" data-level="{level or "none"}"' in portfolio
    # ...and on the second checklist, which applies by itself to tier-1/2 production services.
    search = Service.objects.get(slug="search-api")
    assert [t.template_key for t in service_levels(search)] == ["fastapi-mongo", "data-retention"]
    rows = json.loads(client.get("/dashboards/data/service_levels.json").content)["rows"]
    assert [r["service"] for r in rows if r["template"] == "data-retention"] == ["search-api"]
    assert f'<tr data-campaign="{campaign.slug}">' in portfolio
    doc = json.loads(client.get(f"/campaigns/{campaign.slug}/data/progress.json").content)
    last = {r["team"]: (r["there"], r["in_scope"]) for r in doc["rows"][-2:]}
    assert last == {"payments": (0, 1), "search": (1, 1)}
    assert len({r["at"] for r in doc["rows"]}) > 2  # several moments
    assert verify_chain()[1] is None
    call_command("load_demo_campaigns")  # again: nothing new
    assert Campaign.objects.count() == 1
