"""A real Celery worker process runs discovery asked for from the portal (real Redis, the real
test database): against a real-convention service (the Conduit API: nested JSON login, a
``Token`` scheme found by trying it, wrapped items) and against the reference service (login
with an OTP secret). The lead saves the draft; a validation run in the same worker logs in
with the profile it became."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.urls import reverse

from checks.models import CheckResult, DiscoveryJob, StagingProfile, ValidationRun
from checks.services import runs
from portal.models import Service
from tests.support.realservices import run_real_service

from .discovery_support import draft_post, signed_in, start

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(job_or_run: DiscoveryJob | ValidationRun, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job_or_run.refresh_from_db()
        if job_or_run.finished:
            return
        time.sleep(0.2)
    raise AssertionError(f"{job_or_run} still {job_or_run.status} after {timeout}s")


def test_the_worker_drafts_a_conduit_profile_that_a_validation_logs_in_with(
    lead, team, template, worker: subprocess.Popen[bytes]
) -> None:
    client = signed_in("lead")
    with run_real_service("conduit_app") as conduit:
        response = start(
            client, team, conduit.base_url, username=conduit.username, password=conduit.password
        )
        assert response.status_code == 302
        job = DiscoveryJob.objects.get()
        _wait(job)
        assert job.status == "drafted", job.message
        notes = " ".join(job.draft["notes"])
        assert "confirmed: logged in" in notes, notes
        response = client.post(
            reverse("checks:discovery", args=[job.pk]),
            draft_post(job, lead, source="form", **{"limits.login_attempts": "40"}),
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        service = Service.objects.get(slug="items-api")
        toml = StagingProfile.objects.get(service=service).toml
        assert 'scheme = "Token"' in toml and 'token_path = "user.token"' in toml
        run = runs.run_request(service=service, actor=lead, keys=["smoke.crud_cycle"])
        _wait(run)
    result = CheckResult.objects.get(run=run)
    assert (run.status, result.status) == ("passed", "pass"), result.summary
    assert "on /api/articles/{id}" in result.summary
    assert conduit.password not in result.summary + str(result.evidence)
    assert worker.poll() is None


def test_the_worker_drafts_the_reference_service_with_its_otp_secret(
    lead, team, template, reference_service, worker: subprocess.Popen[bytes]
) -> None:
    ref = reference_service
    client = signed_in("lead")
    response = start(
        client,
        team,
        ref.base_url,
        username=ref.username,
        password=ref.password,
        otp_secret=ref.otp_secret,
    )
    assert response.status_code == 302
    job = DiscoveryJob.objects.get()
    _wait(job)
    assert job.status == "drafted", job.message
    assert sorted(job.secrets) == ["otp_secret", "password"]
    data = draft_post(job, lead, source="toml")
    response = client.post(reverse("checks:discovery", args=[job.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    profile = StagingProfile.objects.get(service__slug="items-api")
    assert sorted(profile.secrets) == ["otp_secret", "password"]
    assert ref.password not in profile.toml and ref.otp_secret not in profile.toml
    assert profile.toml == data["toml"]
