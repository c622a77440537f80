"""Acceptance: in the browser a team lead requests a launch, two reviewers from another team
approve, and the CI gate command (a real subprocess on the same database) exits 0; a later
failing validation run invalidates the approval and the command exits non-zero."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

import pytest

import checks.tasks  # noqa: F401  (registers the tasks enqueued by name when run alone)
import reviews.tasks  # noqa: F401
from checks.services import runs
from reviews.models import LaunchReview
from tests.checks.conftest import profile_for
from tests.e2e.test_checklist_browser import sign_in
from tests.support.launches import make_ready
from tests.support.worker import ROOT, _database_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _launch_gate(slug: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFLIGHT_ENV": "test", "DATABASE_URL": _database_url()}
    return subprocess.run(
        [sys.executable, "manage.py", "launch_gate", slug],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _as(browser, live_server, username: str):
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live_server, username)
    return context, page


def test_request_approve_ship_then_a_failing_run_invalidates(
    browser, live_server, service, lead, search_reviewers, reference_service_factory
) -> None:
    make_ready(service)
    context, page = _as(browser, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    page.click("#launch-link")
    assert page.locator('#gate tr.gate-rule[data-passed="false"]').count() == 0
    page.fill("input[name=target_date]", (date.today() + timedelta(days=3)).isoformat())
    page.fill("textarea[name=notes]", "v1.0 with the new checkout")
    page.click("#request-launch")
    page.wait_for_url(f"{live_server.url}/launches/*/")
    assert page.locator("#review-status").get_attribute("data-status") == "requested"
    review_url = page.url
    context.close()

    for reviewer in search_reviewers:
        context, page = _as(browser, live_server, reviewer.username)
        page.goto(review_url)
        page.fill("#decide input[name=reason]", f"fine by {reviewer.username}")
        page.click("#approve")
        page.wait_for_url(review_url)
        context.close()

    review = LaunchReview.objects.get()
    assert review.status == "approved"
    shipped = _launch_gate("orders")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "may ship" in shipped.stdout

    flawed = reference_service_factory(flaws=["no_security_headers"])
    profile_for(service, flawed)
    run = runs.run_request(service=service, actor=lead, keys=["security.headers"])
    assert runs.execute(run.pk).status == "failed"

    review.refresh_from_db()
    assert review.status == "invalidated"
    held = _launch_gate("orders")
    assert held.returncode == 1, held.stdout + held.stderr
    assert "invalidated" in held.stdout

    context, page = _as(browser, live_server, "lead")
    page.goto(review_url)
    assert page.locator("#review-status").get_attribute("data-status") == "invalidated"
    assert page.locator('li.decision[data-kind="invalidate"]').count() == 1
    assert "→ failing" in page.locator('li.decision[data-kind="approve"]').first.inner_text()
    context.close()
