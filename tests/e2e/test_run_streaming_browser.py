"""In Chromium: a result appears on the run page while the run is still going (a real worker,
a slow staging service), and the verdict follows without a reload."""

from __future__ import annotations

import pytest

from tests.checks.conftest import profile_for
from tests.e2e.test_checklist_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_first_result_is_on_screen_before_the_run_ends(
    page, live_server, service, lead, reference_service_factory, worker
) -> None:
    # `slow`: one request at a time, 50 ms each. The health check is one request; the
    # pagination walk takes seconds.
    profile_for(service, reference_service_factory(flaws=["slow"]))
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    page.check("input[name=steps][value=smoke]")
    page.check("input[name=steps][value=functional]")
    page.click("#run-validation")
    page.wait_for_url(f"{live_server.url}/runs/*/")
    page.evaluate("window.__noReload = 'still-here'")
    page.wait_for_selector('tr.result[data-key="smoke.health"]', timeout=60_000)
    status = page.get_attribute("#run-live", "data-status")
    assert status in ("queued", "running"), status
    assert page.locator('tr.result[data-key="api.cursor_pagination"]').count() == 0
    page.wait_for_selector("#run-live[data-status=passed]", timeout=120_000)
    assert page.locator('tr.result[data-key="api.cursor_pagination"]').count() == 1
    assert page.evaluate("window.__noReload") == "still-here"
