"""When discovery cannot draft (unreachable, no OpenAPI document, a refused destination, a login
that fails), the lead sees why and can retry or start from a blank profile; the probe's
secrets never reach what the job stores; discovery never connects outside the outbound
allowlist (0 connections to a forbidden loopback listener; the SSRF corpus has every
spelling); the sweeper keeps jobs moving; htmx polling stops with 286.

The services are real processes or uvicorn apps on loopback; the worker's task is called as a
plain function (tests/checks/test_add_service_worker.py runs it in a real worker)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.urls import reverse
from django.utils import timezone
from fastapi import Depends, FastAPI
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from checks.models import DiscoveryJob, StagingProfile
from checks.services import discoveries
from checks.tasks import discover_service, sweep_discoveries
from core.broker import enqueue
from core.errors import Conflict
from portal.models import Service
from tests.catalog.conftest import closed_port
from tests.engine.conftest import Listener
from tests.support.realservices import run_real_service

from .discovery_support import draft_post, serve_app, signed_in, start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _checklist(template):
    return template


def _job_after(base_url: str, **extra: str) -> DiscoveryJob:
    response = start(signed_in("lead"), _team(), base_url, **extra)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = DiscoveryJob.objects.latest("id")
    discover_service(job.pk)
    job.refresh_from_db()
    return job


def _team() -> Any:
    from portal.models import Team

    return Team.objects.get(slug="payments")


def _page(job: DiscoveryJob) -> str:
    return signed_in("lead").get(reverse("checks:discovery", args=[job.pk])).content.decode()


# --- failures, retry, blank ------------------------------------------------------------------


def test_an_unreachable_service_shows_the_reason_and_a_blank_profile_can_be_saved(lead) -> None:
    job = _job_after(f"http://127.0.0.1:{closed_port()}", username="probe", password="pw-1234")
    assert (job.status, job.reason) == ("failed", "unreachable")
    html = _page(job)
    assert "The service cannot be reached" in html and "cannot reach http://127.0.0.1:" in html
    assert 'id="retry"' in html and 'id="use-blank"' in html and 'id="draft"' not in html
    client = signed_in("lead")
    response = client.post(reverse("checks:discovery-blank", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "drafted" and job.secrets  # the secrets stay for the save
    html = _page(job)
    assert "discovery failed (The service cannot be reached)" in html  # kept as a note
    assert re.search(r'name="auth\.username" value="probe"', html)
    assert re.search(r'name="paths\.items" placeholder="/items"', html)
    data = draft_post(job, lead, source="form", **{"paths.items": "/v1/things"})
    response = client.post(reverse("checks:discovery", args=[job.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    profile = StagingProfile.objects.get(service__slug="items-api")
    assert 'items = "/v1/things"' in profile.toml and "A blank profile" in profile.toml
    assert sorted(profile.secrets) == ["password"]


def test_no_openapi_document_says_so_and_a_retry_with_its_url_drafts(lead) -> None:
    app = FastAPI(openapi_url="/internal/spec.json")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    with serve_app(app) as base_url:
        job = _job_after(base_url)
        assert (job.status, job.reason) == ("failed", "no_document")
        html = _page(job)
        assert "No OpenAPI document" in html and "no OpenAPI document found (tried" in html
        assert "--openapi-url" not in html  # the CLI's hint is not the portal's
        client = signed_in("lead")
        response = client.post(
            reverse("checks:discovery-retry", args=[job.pk]),
            {"base_url": base_url, "openapi_url": base_url + "/internal/spec.json"},
        )
        assert response.status_code == 302
        job.refresh_from_db()
        assert (job.status, job.openapi_url) == ("queued", base_url + "/internal/spec.json")
        discover_service(job.pk)
    job.refresh_from_db()
    assert job.status == "drafted", job.message
    assert 'health = "/health"' in re.sub(r"  #.*", "", _draft_toml(job))


def _draft_toml(job: DiscoveryJob) -> str:
    from checks.engine.draft import Draft, render_toml

    return render_toml(Draft.from_data(job.draft))


def test_a_login_that_fails_keeps_the_draft_and_a_retry_with_the_right_password_drafts(
    lead,
) -> None:
    with run_real_service("oauth_app") as app:
        job = _job_after(app.base_url, username=app.username, password="not-the-password")
        assert (job.status, job.reason) == ("failed", "login_failed")
        assert "POST /api/v1/login/access-token answered 400" in job.message
        html = _page(job)
        assert "Login failed" in html and 'id="draft"' in html  # the draft is still there
        response = signed_in("lead").post(
            reverse("checks:discovery-retry", args=[job.pk]),
            {"base_url": app.base_url, "username": app.username, "password": app.password},
        )
        assert response.status_code == 302
        discover_service(job.pk)
    job.refresh_from_db()
    assert job.status == "drafted", job.message
    assert "confirmed: logged in" in " ".join(job.draft["notes"])


def test_a_retry_with_a_bad_url_is_a_400_and_changes_nothing(lead) -> None:
    job = _job_after(f"http://127.0.0.1:{closed_port()}")
    response = signed_in("lead").post(
        reverse("checks:discovery-retry", args=[job.pk]), {"base_url": "javascript:alert(1)"}
    )
    assert response.status_code == 400 and "must be an http:// or https:// URL" in (
        response.content.decode()
    )
    job.refresh_from_db()
    assert job.status == "failed"


# --- the scrubbing boundary ------------------------------------------------------------------


class Credentials(BaseModel):
    email: str
    password: str
    remember_me: bool  # required, and not a credential: discovery's body leaves it out


def echoing_login_app() -> FastAPI:
    """A FastAPI service whose login wants one more field than discovery can infer as a
    credential. FastAPI's 422 then echoes the whole body, password included, in ``input``."""
    app = FastAPI()
    bearer = HTTPBearer()

    @app.post("/auth/login")
    def login(body: Credentials) -> dict[str, str]:
        return {"access_token": "t"}

    @app.get("/me", dependencies=[Depends(bearer)])
    def me() -> dict[str, str]:
        return {"me": "you"}

    return app


def test_a_service_echoing_the_password_never_puts_it_into_the_job_or_the_page(lead) -> None:
    password = "Sup3r-secret-probe-pw"
    with serve_app(echoing_login_app()) as base_url:
        job = _job_after(base_url, username="probe@example.com", password=password)
    assert (job.status, job.reason) == ("failed", "login_failed"), job.message
    # The 422's detail is kept (it names the missing field), the echoed password is not.
    assert "remember_me" in job.message and "Field required" in job.message
    assert "***" in job.message
    stored = DiscoveryJob.objects.filter(pk=job.pk).values_list("message", "draft", "stage")
    assert password not in str(list(stored))
    html = _page(job)
    assert password not in html and "remember_me" in html


# --- the outbound policy (SSRF) ----------------------------------------------------------------


def test_a_refused_destination_is_shown_as_such_and_never_contacted(lead, settings) -> None:
    """What the lead sees; every spelling of the path (direct, redirected, a token URL) is in
    the SSRF corpus (tests/security/test_ssrf_corpus.py, discovery_from_the_portal)."""
    settings.PREFLIGHT_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    forbidden = Listener("127.0.0.2")
    try:
        job = _job_after(f"http://127.0.0.2:{forbidden.port}")
        assert (job.status, job.reason) == ("failed", "refused"), job.message
        assert "destination refused: 127.0.0.2" in job.message
        html = _page(job)
        assert "Destination refused by the outbound policy" in html
        assert "outbound allowlist (PREFLIGHT_OUTBOUND_ALLOWLIST)" in html
        assert forbidden.settle() == 0
    finally:
        forbidden.close()


# --- the sweeper, re-delivery and polling ------------------------------------------------------


def test_the_sweeper_fails_stuck_jobs_redispatches_lost_ones_and_expires_old_drafts(
    lead, settings
) -> None:
    port = closed_port()
    stuck, lost, given_up, old = (
        _job_after(f"http://127.0.0.1:{port}", slug=slug) for slug in ("a", "b", "c", "d")
    )
    now = timezone.now()
    DiscoveryJob.objects.filter(pk=stuck.pk).update(
        status="running", started_at=now - timedelta(seconds=301)
    )
    DiscoveryJob.objects.filter(pk=lost.pk).update(status="queued", dispatched_at=None)
    DiscoveryJob.objects.filter(pk=given_up.pk).update(
        status="queued", dispatched_at=now - timedelta(minutes=5), dispatch_attempts=10
    )
    DiscoveryJob.objects.filter(pk=old.pk).update(finished_at=now - timedelta(hours=25))
    # While the broker still holds their messages (no worker here), nothing is given up or
    # sent twice; once the messages are gone, the lost ones are.
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for job in (lost, given_up):
        assert enqueue("checks.tasks.discover_service", job.pk)
    assert sweep_discoveries() == {"stuck": 1, "given_up": 0, "redispatched": 0, "expired": 1}
    queue.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert sweep_discoveries() == {"stuck": 0, "given_up": 1, "redispatched": 1, "expired": 0}
    states = dict(DiscoveryJob.objects.values_list("slug", "status"))
    assert states == {"a": "failed", "b": "queued", "c": "failed", "d": "expired"}
    assert DiscoveryJob.objects.get(slug="a").reason == "stuck"
    assert DiscoveryJob.objects.get(slug="c").reason == "not_started"
    assert DiscoveryJob.objects.get(slug="d").secrets == {}
    assert DiscoveryJob.objects.get(slug="b").dispatch_attempts == 1
    # A re-delivered message for a finished job changes nothing; one for a running job
    # (its worker was lost) runs discovery again and finishes once.
    assert discover_service(stuck.pk) == "skipped"
    DiscoveryJob.objects.filter(pk=lost.pk).update(status="running")
    assert discover_service(lost.pk) == "failed"
    assert discover_service(lost.pk) == "skipped"
    # A saved or expired job is not retried, blanked or saved again.
    expired = DiscoveryJob.objects.get(slug="d")
    with pytest.raises(Conflict):
        discoveries.retry(job=expired, actor=lead)
    with pytest.raises(Conflict):
        discoveries.use_blank(job=expired, actor=lead)
    assert "left unsaved too long" in _page(expired)
    assert not Service.objects.exists()


def test_polling_continues_while_discovery_runs_and_stops_with_286(lead) -> None:
    response = start(signed_in("lead"), _team(), f"http://127.0.0.1:{closed_port()}")
    job = DiscoveryJob.objects.get()
    client = signed_in("lead")
    url = reverse("checks:discovery", args=[job.pk])
    partial = client.get(url, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert partial.status_code == 200 and 'hx-trigger="every 1s"' in html
    assert "<html" not in html and 'data-status="queued"' in html
    assert response.status_code == 302
    discover_service(job.pk)
    done = client.get(url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and "hx-trigger" not in done.content.decode()
    assert "The service cannot be reached" in done.content.decode()
