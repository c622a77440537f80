"""Refusals to htmx keep the page under the `make run` settings (DEBUG on).

django-htmx's debug script (added by its `{% htmx_script %}` tag when DEBUG is on) replaces the
whole document with any 400/403/404 answer to htmx. `make run` runs with DEBUG=1 and the rest
of the suite without, so these tests turn DEBUG on for the live server."""

from __future__ import annotations

import pytest

from portal.models import ItemState
from tests.e2e.test_checklist_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = "security.http_headers"  # blocking, evidence required


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True
    return settings


def test_mark_done_without_evidence_keeps_the_page_under_debug(
    page, live_server, service, lead, debug_on
) -> None:
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    assert "django-htmx.js" not in page.content()
    page.evaluate("window.__noReload = 'still-here'")
    row = page.locator(f'li.item[data-key="{KEY}"]')
    row.locator("button[value=done]").click()  # no evidence link

    alert = page.locator(f'li.item[data-key="{KEY}"] [role=alert]')
    alert.wait_for()
    assert "needs evidence" in alert.inner_text()
    # The same page: the marker survives, the rest of the checklist and the header are there.
    assert page.evaluate("window.__noReload") == "still-here"
    assert page.locator("li.item").count() == 39
    assert page.locator("#readiness").is_visible()
    assert ItemState.objects.get(service=service, item_key=KEY).state == "open"

    # The row still works: the fix is one more click away.
    row = page.locator(f'li.item[data-key="{KEY}"]')
    row.locator("input[name=evidence_url]").fill("https://wiki.example.com/headers")
    row.locator("button[value=done]").click()
    page.wait_for_selector(f'li.item.state-done[data-key="{KEY}"]')
    assert page.evaluate("window.__noReload") == "still-here"


def test_a_refusal_page_answered_to_htmx_becomes_a_notice_under_debug(
    page, live_server, service, lead, debug_on
) -> None:
    """An answer from core.errors.refused (here: a form without its version field) is not
    swapped into the row: the page shows the reason in its notice and stays as it was."""
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    page.evaluate("window.__noReload = 'still-here'")
    page.evaluate(
        """([url, key]) => htmx.ajax('POST', url, {
             target: `li.item[data-key="${key}"]`, swap: 'outerHTML', values: {action: 'done'}})""",
        [f"/services/orders/items/{KEY}/", KEY],
    )
    notice = page.locator("#htmx-notice")
    notice.wait_for(state="visible")
    assert "Nothing was changed" in notice.inner_text()
    assert "version" in notice.inner_text()
    assert page.evaluate("window.__noReload") == "still-here"
    assert page.locator(f'li.item[data-key="{KEY}"] form.item-form').count() == 1
    assert page.locator("li.item").count() == 39
