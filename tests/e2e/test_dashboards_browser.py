"""The dashboards in headless Chromium: plotly (served from our static files) draws the
charts, and a run in flight updates the service dashboard without a reload."""

from __future__ import annotations

import pytest

from checks.models import CheckResult, ValidationRun
from tests.dashboards.conftest import make_run
from tests.e2e.test_checklist_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOAD = {
    "totals": {"requests": 3000, "failures": 0, "rps": 99.0, "p50_ms": 12.0, "p95_ms": 35.0,
               "p99_ms": 60.0, "target_rps": 100, "offered_rps": 100},
    "samples": [],
}  # fmt: skip


def _watch_console(page) -> list[str]:
    problems: list[str] = []
    # The browser's own /favicon.ico request 404s (the portal has none): not a page error.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "favicon" not in (m.location or {}).get("url", "")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_portfolio_and_service_dashboards_draw_their_charts(
    page, live_server, service, lead
) -> None:
    make_run(service, {"smoke.health": "pass", "api.openapi": "fail"})
    make_run(service, {"smoke.health": "pass", "load.target_rps": "pass"},
             evidence={"load.target_rps": LOAD})  # fmt: skip
    problems = _watch_console(page)
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/dashboards/teams/payments/"  # the lead's team
    page.goto(f"{live_server.url}/dashboards/")
    for chart in ("heatmap", "states", "failing_checks", "drills_overdue"):
        page.wait_for_selector(f"#chart-{chart} .main-svg", timeout=15_000)
    # plotly.js came from our own static files (nothing else is reachable here anyway).
    assert page.evaluate("typeof window.Plotly.newPlot") == "function"

    page.goto(f"{live_server.url}/dashboards/services/orders/")
    for chart in ("readiness_history", "check_timeline", "load", "drills"):
        page.wait_for_selector(f"#chart-{chart} .main-svg", timeout=15_000)
    assert page.locator("#chart-load .scatterlayer .trace").count() >= 3
    # No CSP violation, no script error: the pages need nothing inline.
    assert problems == []


def test_a_run_in_flight_updates_the_service_dashboard_live(page, live_server, service, lead):
    run = ValidationRun.objects.create(
        service=service, status="running", keys=["smoke.health", "api.openapi", "security.tls"]
    )
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/dashboards/services/orders/")
    page.wait_for_selector("#dashboard[data-moving=yes]")
    page.wait_for_selector("#chart-check_timeline .main-svg")
    page.evaluate("window.__noReload = 'still-here'")
    assert page.locator(f'li[data-run="{run.pk}"]').get_attribute("data-results") == "0"

    CheckResult.objects.create(run=run, key="smoke.health", status="pass", summary="ok")
    page.wait_for_selector(f'li[data-run="{run.pk}"][data-results="1"]', timeout=15_000)
    # The swapped-in fragment's timeline chart was drawn again, with the new result.
    page.wait_for_selector("#chart-check_timeline .main-svg")
    assert "1/3 checks" in page.locator("#in-flight").inner_text()

    CheckResult.objects.create(run=run, key="api.openapi", status="fail", summary="no")
    CheckResult.objects.create(run=run, key="security.tls", status="pass", summary="ok")
    ValidationRun.objects.filter(pk=run.pk).update(status="failed")
    # The last answer (286) is swapped in and polling stops.
    page.wait_for_selector("#dashboard[data-moving=no]", timeout=15_000)
    page.wait_for_selector("#chart-check_timeline .main-svg")
    assert page.evaluate("window.__noReload") == "still-here"
    signature = page.locator("#dashboard").get_attribute("data-signature")
    page.wait_for_timeout(2500)  # nothing polls any more: the element is not replaced
    assert page.locator("#dashboard").get_attribute("data-signature") == signature
    assert page.locator("#dashboard").get_attribute("hx-trigger") is None
