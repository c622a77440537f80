"""Results stream: each is stored as its check finishes (in the worker) and the run page shows
it while the run is still going; a poll with nothing new costs a 204."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.test import Client
from django.urls import reverse

from checks import selectors
from checks.models import CheckResult, ValidationRun
from checks.services import runs
from tests.checks.conftest import profile_for
from tests.conftest import PASSWORD


def _lead_client() -> Client:
    client = Client()
    client.login(username="lead", password=PASSWORD)
    return client


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_result_is_stored_and_shown_before_the_run_ends(
    service, lead, reference_service_factory, worker: subprocess.Popen[bytes]
) -> None:
    # The `slow` flaw serves one request at a time, 50 ms each: the pagination walk takes
    # seconds, the health check one request.
    profile_for(service, reference_service_factory(flaws=["slow"]))
    run = runs.run_request(
        service=service, actor=lead, keys=["smoke.health", "api.cursor_pagination"]
    )
    client = _lead_client()
    deadline = time.monotonic() + 60
    while not CheckResult.objects.filter(run=run).exists():
        assert time.monotonic() < deadline, "no result within 60 s"
        time.sleep(0.02)
    run.refresh_from_db()
    assert run.status == "running"  # the first result is there, the run is not over
    live = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    page = live.content.decode()
    assert live.status_code == 200 and 'data-key="smoke.health"' in page
    assert "hx-trigger" in page and 'data-key="api.cursor_pagination"' not in page
    while not run.finished:
        assert time.monotonic() < deadline, "the run did not finish within 60 s"
        time.sleep(0.1)
        run.refresh_from_db()
    first, last = (
        CheckResult.objects.get(run=run, key=key).created_at
        for key in ("smoke.health", "api.cursor_pagination")
    )
    assert run.finished_at is not None
    assert (last - first).total_seconds() > 0.5 and first < run.finished_at
    done = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and 'data-key="api.cursor_pagination"' in done.content.decode()


@pytest.mark.django_db
def test_a_poll_with_nothing_new_gets_204_and_a_new_result_gets_the_rows(
    staged_service, lead
) -> None:
    run = runs.run_request(service=staged_service, actor=lead, keys=["smoke.health"])
    client = _lead_client()
    url = reverse("checks:run-detail", args=[run.pk])
    first = client.get(url, HTTP_HX_REQUEST="true")
    mark = selectors.run_progress(run)
    assert first.status_code == 200 and f"?seen={mark}" in first.content.decode()
    assert client.get(f"{url}?seen={mark}", HTTP_HX_REQUEST="true").status_code == 204
    ValidationRun.objects.filter(pk=run.pk).update(status="running")
    moved = client.get(f"{url}?seen={mark}", HTTP_HX_REQUEST="true")
    assert moved.status_code == 200  # the status changed: shown at once
    runs.execute(run.pk)
    done = client.get(f"{url}?seen=running-0", HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and 'data-key="smoke.health"' in done.content.decode()
    # Without htmx the mark is ignored: the whole page, always.
    assert "<html" in client.get(f"{url}?seen=passed-1").content.decode()
