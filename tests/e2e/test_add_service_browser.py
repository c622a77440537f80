"""In Chromium: a lead adds a service from its staging URL (a real OAuth2-password-form
service on loopback), watches discovery on the real worker without a reload, reviews the
draft form beside its TOML, saves, and starts a validation that logs in with it."""

from __future__ import annotations

import pytest

from checks.models import CheckResult, DiscoveryJob, StagingProfile
from tests.e2e.test_checklist_browser import sign_in
from tests.support.realservices import run_real_service

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_lead_adds_a_service_from_its_staging_url_and_validates_it(
    page, live_server, lead, team, template, worker
) -> None:
    with run_real_service("oauth_app") as app:
        sign_in(page, live_server, "lead")
        page.goto(f"{live_server.url}/services/")
        page.click("#add-service")
        page.fill("input[name=name]", "Items API")
        page.fill("input[name=slug]", "items-api")
        page.select_option("select[name=lifecycle]", "staging")
        page.fill("input[name=base_url]", app.base_url)
        page.fill("input[name=username]", app.username)
        page.fill("input[name=password]", app.password)
        page.click("#discover")
        page.wait_for_url(f"{live_server.url}/add-service/*/")
        page.evaluate("window.__noReload = 'still-here'")
        # Discovery runs on the worker; the draft form arrives through htmx polling.
        page.wait_for_selector("#draft", timeout=60_000)
        assert page.evaluate("window.__noReload") == "still-here"
        assert page.locator("#discovery").get_attribute("data-status") == "drafted"
        assert page.input_value("select[name='auth.style']") == "oauth2_password"
        assert page.input_value("input[name='paths.login']") == "/api/v1/login/access-token"
        assert page.locator("[data-section=resource]").is_visible()
        assert "offset" in page.input_value("select[name='resource.pagination']")
        assert app.password not in page.content()
        link = page.locator("[data-setting='auth.style'] a")
        assert link.get_attribute("href") == "/docs/profile/#auth.style"
        assert 'style = "oauth2_password"' in page.input_value("textarea[name=toml]")
        page.click("#save-form")
        page.wait_for_url(f"{live_server.url}/services/items-api/")
        assert "Items API added" in page.content()
        page.check("input[name=steps][value=smoke]")
        page.click("#run-validation")
        page.wait_for_url(f"{live_server.url}/runs/*/")
        page.wait_for_selector("#run-live[data-status=passed]", timeout=60_000)
        row = page.locator('tr.result[data-key="smoke.crud_cycle"]')
        assert "result-pass" in (row.get_attribute("class") or "")
    crud = CheckResult.objects.get(key="smoke.crud_cycle")
    assert "PUT 200" in crud.summary  # logged in, then created, read, updated, deleted
    assert DiscoveryJob.objects.get().status == "saved"
    assert sorted(StagingProfile.objects.get().secrets) == ["password"]
