"""Issue 17 in the browser (Chromium): a lead sees the service's level, what is missing for
the next level and the campaign's due date; ticks the last missing item and the panel shows
Bronze with Silver's items listed, without a reload; the campaign page draws its progress
chart and shows the due date."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import ItemState
from tests.campaigns.test_campaigns import _campaign
from tests.e2e.test_checklist_browser import sign_in
from tests.reviews.test_levels import BRONZE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAST = "docker.non_root"  # a Bronze item, manual, evidence required


def test_a_lead_sees_what_is_missing_for_the_next_level_and_the_campaigns_due_date(
    page, live_server, service, lead, reviewer
) -> None:
    now = timezone.now()
    ItemState.objects.filter(service=service, item_key__in=set(BRONZE) - {LAST}).update(
        state="done", verified_at=now, expires_at=now + timedelta(days=30)
    )
    campaign = _campaign(reviewer)
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")

    panel = page.locator("#levels")
    assert panel.locator("[data-level]").get_attribute("data-level") == ""
    assert "Missing for Bronze: 1 item" in panel.inner_text()
    assert panel.locator(f'[data-missing="{LAST}"]').is_visible()
    due = page.locator(f'#campaigns [data-campaign="{campaign.slug}"] [data-due]')
    assert due.inner_text() == campaign.due_on.isoformat()

    row = page.locator(f'li.item[data-key="{LAST}"]')
    row.locator("input[name=evidence_url]").fill("https://wiki.example.com/non-root")
    row.locator("button[value=done]").click()
    page.wait_for_selector(f'li.item.state-done[data-key="{LAST}"]')
    # The panel rides along the row's htmx answer: no reload.
    page.wait_for_selector('#levels [data-level="bronze"]')
    assert "Missing for Silver" in panel.inner_text()
    assert panel.locator('[data-missing="security.cors_allowlist"]').is_visible()

    page.click(f'#campaigns a[href="/campaigns/{campaign.slug}/"]')
    page.wait_for_url(f"{live_server.url}/campaigns/{campaign.slug}/")
    assert page.locator("#campaign-due").get_attribute("data-due") == campaign.due_on.isoformat()
    page.wait_for_selector('#chart-progress[data-rendered="1"]')
    assert page.locator('#card-behind [data-service="orders"]').is_visible()
