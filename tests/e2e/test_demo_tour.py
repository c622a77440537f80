"""Acceptance: README's "A tour of the demo", steps 1-6, clicked in Chromium on the demo data.

The demo data and profiles come from the same commands `make run` uses (load_demo,
load_demo_profiles) against a real reference service; a real Celery worker runs the full
validation (HTTP checks and every drill: load, Redis outage, database readiness, canary). No
Prometheus/Alertmanager here: the alert drill skips naming PREFLIGHT_ALERTMANAGER_TOKEN, and
that skip is exempted by name with the rest. Nothing goes through /admin/ or a TOML file.
Slow by this suite's standard (about 30 s: the drills run for real)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command

import checks.tasks  # noqa: F401  (registers the tasks enqueued by name when run alone)
import reviews.tasks  # noqa: F401
from checks.models import ValidationRun
from portal.demo import TOUR_TICKS
from reviews.models import LaunchReview
from tests.e2e.test_launch_browser import _launch_gate

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

JUSTIFICATION = "Demo machine: no TLS terminator, MongoDB or repository; checked on real staging."


@pytest.fixture
def demo(template, settings, tmp_path, monkeypatch, reference_service_factory):
    ref = reference_service_factory(login_limit=40)
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("REF_HEALTHY_PORT", ref.base_url.rsplit(":", 1)[1])
    monkeypatch.setenv("REF_PROBE_PASSWORD", ref.password)
    monkeypatch.setenv("REF_OTP_SECRET", ref.otp_secret)
    monkeypatch.setenv("REF_DRILL_TOKEN", ref.drill_token or "")
    call_command("load_demo")
    call_command("load_demo_profiles")
    lines = (tmp_path / "demo-logins.txt").read_text().splitlines()
    return {line.split()[0]: line.split()[1] for line in lines if line.strip()}


def _sign_in(browser, live_server, logins, username):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", logins[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboards/**")
    return context, page


def test_a_newcomer_takes_the_demo_tier_1_launch_to_approval_in_the_browser(
    browser, live_server, demo, worker
) -> None:
    # 1. The lead lands on the team's dashboard.
    context, page = _sign_in(browser, live_server, demo, "lead")
    assert page.url == f"{live_server.url}/dashboards/teams/payments/"

    # 2. Orders: a refused "Mark done" stays in the row; then two items ticked with a link.
    page.click("nav >> text=Services")
    page.click("text=Orders API")
    page.wait_for_url(f"{live_server.url}/services/orders/")
    page.evaluate("window.__kept = 'yes'")
    first = page.locator(f'li.item[data-key="{TOUR_TICKS[0]}"]')
    first.locator("button[value=done]").click()
    page.locator(f'li.item[data-key="{TOUR_TICKS[0]}"] [role=alert]').wait_for()
    assert page.evaluate("window.__kept") == "yes"
    for key in TOUR_TICKS:
        row = page.locator(f'li.item[data-key="{key}"]')
        row.locator("input[name=evidence_url]").fill(f"https://wiki.example.com/orders/{key}")
        row.locator("button[value=done]").click()
        page.wait_for_selector(f'li.item.state-done[data-key="{key}"]')

    # 3. A full validation, drills included, through the real worker.
    page.click("#run-validation")
    page.wait_for_url(f"{live_server.url}/runs/*/")
    page.wait_for_selector(
        "#run-live[data-status=passed], #run-live[data-status=failed], "
        "#run-live[data-status=error]",
        timeout=240_000,
    )
    run = ValidationRun.objects.get(service__slug="orders")
    statuses = dict(run.results.values_list("key", "status"))
    assert run.status == "passed", {k: v for k, v in statuses.items() if v != "pass"}
    for drill in ("load.target_rps", "chaos.redis_outage", "chaos.db_readiness"):
        assert statuses[drill] == "pass", drill
    assert statuses["rollout.canary_drill"] == "pass"
    alert = run.results.get(key="alerts.error_drill")
    assert alert.status == "skip" and "PREFLIGHT_ALERTMANAGER_TOKEN" in alert.summary

    # 4. The launch: justify each failing rule, which exempts exactly what it names.
    page.goto(f"{live_server.url}/services/orders/")
    page.click("#launch-link")
    justify = page.locator("label.justify textarea")
    assert justify.count() >= 2  # blocking items and verifying checks (and the skipped drill)
    page.fill("input[name=target_date]", (date.today() + timedelta(days=7)).isoformat())
    for index in range(justify.count()):
        justify.nth(index).fill(JUSTIFICATION)
    page.fill("input[name=exemption_expires]", (date.today() + timedelta(days=14)).isoformat())
    page.click("#request-launch")
    page.wait_for_url(f"{live_server.url}/launches/*/")
    review_url = page.url
    context.close()

    # 5-6. Two reviewers outside Payments approve from the Launches list.
    for username, status in (("reviewer", "requested"), ("reviewer2", "approved")):
        context, page = _sign_in(browser, live_server, demo, username)
        page.click("nav >> text=Launches")
        page.click(f"a[href='{review_url.removeprefix(live_server.url)}']")
        page.fill("#decide input[name=reason]", f"fine by {username}")
        page.click("#approve")
        page.wait_for_url(review_url)
        assert page.locator("#review-status").get_attribute("data-status") == status
        context.close()

    context, page = _sign_in(browser, live_server, demo, "lead")
    page.goto(f"{live_server.url}/services/orders/launch/")
    assert page.locator("#may-ship").inner_text() == "yes"
    context.close()
    assert LaunchReview.objects.get().status == "approved"
    gate = _launch_gate("orders")
    assert gate.returncode == 0, gate.stdout + gate.stderr
