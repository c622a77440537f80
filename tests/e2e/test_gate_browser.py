"""Issue 14 in the browser (Chromium): exemptions cover only what they name, a run with skips
cannot satisfy the gate for a blocking item, and "Mark done" on an item whose verifying
check fails is refused without an exemption. The CI gate is the real command in a
subprocess on the same database; runs are real, over HTTP, against the reference service."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

import checks.tasks  # noqa: F401  (registers the tasks runs enqueue by name)
import reviews.tasks  # noqa: F401
from checks.models import CheckResult
from checks.services import runs
from portal.models import AuditEvent, ItemState
from reviews.models import Exemption, LaunchReview
from tests.checks.conftest import profile_for
from tests.e2e.test_launch_browser import _as, _launch_gate
from tests.support.launches import make_ready

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXEMPTED = "data.backups_restore_tested"  # blocking, manual
REGRESSED = "docker.rollback_documented"  # blocking, manual, done at approval


def _state(service, key: str) -> ItemState:
    return ItemState.objects.get(service=service, item_key=key)


def test_an_exemption_then_a_different_regression_invalidates_the_approval(
    browser, live_server, service, lead, search_reviewers
) -> None:
    make_ready(service)
    ItemState.objects.filter(service=service, item_key=EXEMPTED).update(
        state="open", expires_at=None
    )
    context, page = _as(browser, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/launch/")
    assert page.locator('#gate tr.gate-rule[data-rule="blocking_items"]').get_attribute(
        "data-passed"
    ) == ("false")
    form = page.locator("#launch-request")
    assert EXEMPTED in form.locator('label.justify[data-rule="blocking_items"]').inner_text()
    page.fill("input[name=target_date]", (date.today() + timedelta(days=3)).isoformat())
    page.fill("textarea[name=justification_blocking_items]", "restore rehearsal on the 3rd")
    page.fill("input[name=exemption_expires]", (date.today() + timedelta(days=14)).isoformat())
    page.click("#request-launch")
    page.wait_for_url(f"{live_server.url}/launches/*/")
    review_url = page.url
    assert f"item:{EXEMPTED}" in page.locator("#exemptions").inner_text()
    context.close()

    for reviewer in search_reviewers:
        context, page = _as(browser, live_server, reviewer.username)
        page.goto(review_url)
        page.click("#approve")
        page.wait_for_url(review_url)
        context.close()
    assert LaunchReview.objects.get().status == "approved"
    shipped = _launch_gate("orders")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "exempted by name" in shipped.stdout

    # A different blocking item regresses: the lead reopens it in the checklist.
    context, page = _as(browser, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    row = page.locator(f'li.item[data-key="{REGRESSED}"]')
    row.locator("button[value=reopen]").click()
    page.wait_for_selector(f'li.item.state-open[data-key="{REGRESSED}"]')
    context.close()

    review = LaunchReview.objects.get()
    assert review.status == "invalidated"
    held = _launch_gate("orders")
    assert held.returncode == 1, held.stdout + held.stderr
    assert "invalidated" in held.stdout and REGRESSED in held.stdout
    assert AuditEvent.objects.filter(action="approval_invalidated").count() == 1
    context, page = _as(browser, live_server, "lead")
    page.goto(review_url)
    assert page.locator("#review-status").get_attribute("data-status") == "invalidated"
    invalidation = page.locator('li.decision[data-kind="invalidate"]').inner_text()
    assert REGRESSED in invalidation and EXEMPTED not in invalidation.split("covers:")[1]
    context.close()


def test_a_run_with_skips_cannot_satisfy_the_gate_for_a_blocking_item(
    browser, live_server, service, lead, reference_service
) -> None:
    make_ready(service)
    CheckResult.objects.filter(run__service=service, key__startswith="db.").delete()
    profile_for(service, reference_service)  # no [mongo]: the database checks skip
    run = runs.run_request(service=service, actor=lead, steps=["db"])
    finished = runs.execute(run.pk)
    assert finished.status == "passed" and finished.counts["skipped"] == 4
    assert finished.verdict == "nothing verified: 4 skipped: not configured"

    context, page = _as(browser, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/launch/")
    assert page.locator("#may-ship").inner_text() == "no"
    rule = page.locator('#gate tr.gate-rule[data-rule="verifying_checks"]')
    assert rule.get_attribute("data-passed") == "false"
    skipped = page.locator("#gate-skipped")
    # the checks that verify blocking items, each with the setting it needs
    for key, item in [
        ("db.index_usage", "data.explain_hot_queries"),
        ("db.ttl_indexes", "data.ttl_indexes"),
    ]:
        row = skipped.locator(f'tr[data-check="{key}"]')
        assert row.locator("code.setting").inner_text().startswith("mongo")
        assert item in row.inner_text()
    # db.write_concern only supports its item, db.compound_index_sort's item is not blocking
    assert skipped.locator('tr[data-check="db.write_concern"]').count() == 0
    assert skipped.locator('tr[data-check="db.compound_index_sort"]').count() == 0

    # Requesting the launch without naming the skipped checks is refused, nothing written.
    page.fill("input[name=target_date]", (date.today() + timedelta(days=3)).isoformat())
    page.click("#request-launch")
    assert "verifying_checks" in page.locator("[role=alert]").inner_text()
    assert not LaunchReview.objects.exists()
    context.close()
    held = _launch_gate("orders")
    assert held.returncode == 1 and "verifying_checks" in held.stdout


def test_mark_done_on_a_failing_automated_item_is_refused_without_an_exemption(
    browser, live_server, service, lead, search_reviewers, reference_service_factory
) -> None:
    key = "security.cors_allowlist"
    context, page = _as(browser, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")  # the row still offers "Mark done"
    row = page.locator(f'li.item[data-key="{key}"]')
    assert row.locator("button[value=done]").count() == 1

    # Meanwhile a real run finds the CORS wildcard.
    profile_for(service, reference_service_factory(flaws=["cors_wildcard"]))
    run = runs.run_request(service=service, actor=lead, keys=["security.cors"])
    assert runs.execute(run.pk).status == "failed"
    assert _state(service, key).state == "failing"
    version, events = _state(service, key).version, AuditEvent.objects.count()

    row.locator("input[name=evidence_url]").fill("https://wiki.example.com/cors")
    row.locator("button[value=done]").click()
    alert = page.locator(f'li.item[data-key="{key}"] [role=alert]')
    alert.wait_for()
    assert "needs an approved exemption" in alert.inner_text()
    assert (_state(service, key).version, AuditEvent.objects.count()) == (version, events)
    row = page.locator(f'li.item[data-key="{key}"]')
    assert row.locator("button[value=done]").count() == 0  # the row now offers the path
    row.locator("input[name=justification]").fill("partner origin allowed until the 1st")
    row.locator("button", has_text="Request exemption").click()
    page.wait_for_url(f"{live_server.url}/services/orders/")
    exemption = Exemption.objects.get()
    assert exemption.checks == ["security.cors"] and exemption.status == "requested"
    assert _state(service, key).state == "failing"  # nothing ticked until a reviewer says so
    context.close()

    context, page = _as(browser, live_server, search_reviewers[0].username)
    page.goto(f"{live_server.url}/exemptions/{exemption.pk}/")
    page.click("#approve-exemption")
    page.wait_for_selector('#exemption-status[data-status="approved"]')
    context.close()

    state = _state(service, key)
    assert state.state == "done" and state.exempt_checks == ["security.cors"]
    context, page = _as(browser, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    row = page.locator(f'li.item[data-key="{key}"]')
    assert f"exemption #{exemption.pk}" in row.inner_text()
    context.close()
