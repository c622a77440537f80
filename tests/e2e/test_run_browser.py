from __future__ import annotations

import pytest

from checks.models import ValidationRun
from portal.models import ItemState
from tests.checks.conftest import profile_for
from tests.e2e.test_checklist_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_run_started_in_the_browser_shows_results_live_and_updates_the_checklist(
    page, live_server, service, lead, reference_service, worker
) -> None:
    profile_for(service, reference_service)
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    page.check("input[name=steps][value=smoke]")
    page.check("input[name=steps][value=functional]")
    page.click("#run-validation")
    page.wait_for_url(f"{live_server.url}/runs/*/")
    page.evaluate("window.__noReload = 'still-here'")
    # Results arrive through htmx polling; the page itself is never reloaded.
    page.wait_for_selector("#run-live[data-status=passed]", timeout=60_000)
    assert page.evaluate("window.__noReload") == "still-here"
    assert page.locator("tr.result").count() == 7
    assert page.locator("tr.result-pass").count() == 7
    run = ValidationRun.objects.get()
    assert run.status == "passed"
    assert ItemState.objects.get(service=service, item_key="api.cursor_pagination").state == "done"
    page.goto(f"{live_server.url}/services/orders/")
    row = page.locator('li.item[data-key="api.cursor_pagination"]')
    assert "Done" in row.inner_text() and "preflight-system" in row.inner_text()
