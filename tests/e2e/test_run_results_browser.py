"""A team lead runs the HTTP checks against a flawed staging (a real reference service with
its CORS wildcard switched on, a real worker) and sees the failure first, with its fix hint,
its evidence readable, and a link to the checklist item it verifies."""

from __future__ import annotations

import pytest

from checks.catalog.hints import HINTS
from tests.checks.conftest import profile_for
from tests.e2e.test_checklist_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_lead_sees_the_failed_check_first_with_its_fix_and_the_item_it_verifies(
    page, live_server, service, lead, reference_service_factory, worker
) -> None:
    flawed = reference_service_factory(flaws=["cors_wildcard"])
    profile_for(service, flawed)
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    page.check("input[name=steps][value=http]")
    page.click("#run-validation")
    page.wait_for_url(f"{live_server.url}/runs/*/")
    page.wait_for_selector("#run-live[data-status=failed]", timeout=60_000)

    first_group = page.locator("section.result-group").first
    assert first_group.get_attribute("data-group") == "http"
    assert "1 failed" in first_group.locator("h2").inner_text()
    first = page.locator("tr.result").first
    assert first.get_attribute("data-key") == "security.cors"
    assert "result-fail" in (first.get_attribute("class") or "")
    hint = first.locator(".fix-hint")
    assert hint.is_visible() and HINTS["security.cors"] in hint.inner_text()
    # The failure's evidence is open and readable: a request line, not a Python dict.
    evidence = first.locator(".evidence")
    assert evidence.is_visible() and "{'" not in evidence.inner_text()
    assert "→" in evidence.inner_text()

    first.locator('a.item-link[data-item="security.cors_allowlist"]').click()
    page.wait_for_url(f"{live_server.url}/services/orders/#item-*")
    row = page.locator('li.item[data-key="security.cors_allowlist"]')
    assert row.is_visible() and "Failing" in row.inner_text()


def test_a_lead_attaches_a_file_as_evidence_from_the_row_without_a_reload(
    page, live_server, service, lead, settings, tmp_path
) -> None:
    settings.PREFLIGHT_EVIDENCE_DIR = tmp_path / "evidence"
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%%EOF\n")
    sign_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/services/orders/")
    page.evaluate("window.__noReload = 'still-here'")
    row = page.locator('li.item[data-key="security.secrets_env"]')
    row.locator("details.more-evidence summary").click()
    row.locator("input[name=evidence_file]").set_input_files(str(pdf))
    row.locator("button[value=done]").click()
    row = page.locator('li.item[data-key="security.secrets_env"]')
    row.locator("a.evidence-file").wait_for()
    assert "Done" in row.inner_text() and "scan.pdf" in row.inner_text()
    assert page.evaluate("window.__noReload") == "still-here"
    assert [p.name for p in (tmp_path / "evidence").iterdir()] != []
