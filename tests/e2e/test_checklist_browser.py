from __future__ import annotations

import pytest

from portal.models import ItemState
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = "security.http_headers"


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    # Sign-in lands on the user's team dashboard (the portfolio for users of no team).
    page.wait_for_url(f"{live_server.url}/dashboards/**")


def test_a_lead_ticks_an_item_and_the_section_progress_moves_without_reload(
    page, live_server, service, lead
) -> None:
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    progress = page.locator("#section-progress-security")
    assert progress.get_attribute("data-pct") == "0"
    # A marker on window survives only if the page is never reloaded.
    page.evaluate("window.__noReload = 'still-here'")

    row = page.locator(f'li.item[data-key="{KEY}"]')
    row.locator("input[name=evidence_url]").fill("https://wiki.example.com/headers")
    row.locator("button[value=done]").click()

    page.wait_for_selector(f'li.item.state-done[data-key="{KEY}"]')
    page.wait_for_function(
        "document.querySelector('#section-progress-security').dataset.pct === '14'"
    )
    assert page.evaluate("window.__noReload") == "still-here"
    assert "1/39" in page.locator("#readiness").inner_text()
    assert ItemState.objects.get(service=service, item_key=KEY).state == "done"


def test_a_refused_change_shows_its_reason_in_the_row(page, live_server, service, lead) -> None:
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    row = page.locator(f'li.item[data-key="{KEY}"]')
    row.locator("button[value=na]").click()  # no reason given
    alert = page.locator(f'li.item[data-key="{KEY}"] [role=alert]')
    alert.wait_for()
    assert "needs a reason" in alert.inner_text()
    assert ItemState.objects.get(service=service, item_key=KEY).state == "open"
