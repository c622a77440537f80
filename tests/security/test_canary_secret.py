"""A canary secret in every secret field of a stored profile appears nowhere the portal keeps or
shows anything, even though the staging echoes what it is sent.

A real validation run (every check of the catalog, drills included) goes against a staging
that echoes (tests/support/staging.py: FastAPI's own 422 ``input`` field, plain-text 404s that
repeat headers and bodies), over real HTTP on loopback, with the real database. Then the
database rows, the pages and API answers a signed-in user can fetch, and the log lines the
portal's own handler wrote are searched for every spelling of every canary.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from django.test import Client
from django.urls import reverse

from checks.catalog import REGISTRY
from checks.engine.target import build_target
from checks.models import CheckResult, StagingProfile, ValidationRun
from checks.selectors import outbound_policy
from checks.services import profiles, runs
from drills.models import Drill
from portal.models import AuditEvent
from tests.catalog.conftest import closed_port
from tests.support.staging import Served, create_staging, serve

pytestmark = pytest.mark.django_db(transaction=True)

CANARIES = {
    "password": "canary-Pw:9/q+x%Z-portal",
    "otp_secret": "JBSWY3DPEHPK3PXPCANARYPP",
    "hooks_token": "canary-hooks-token-portal",
    "repo_token": "canary-repo-token-portal",
}
MONGO_PASSWORD = "canary-mongo-pw-portal"


def spellings(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]]


def assert_clean(where: str, text: str) -> None:
    for secret in [*CANARIES.values(), MONGO_PASSWORD]:
        for spelling in spellings(secret):
            assert spelling not in text, f"{secret!r} ({spelling!r}) found in {where}"


@pytest.fixture
def echoing() -> Iterator[Served]:
    with serve(*create_staging(echo=True)) as served:
        yield served


@pytest.fixture
def portal_log() -> Iterator[io.StringIO]:
    """What the portal's own log handler (settings.LOGGING: formatter and filters) writes."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    previous = handler.setStream(written)
    yield written
    handler.setStream(previous)


def test_the_canary_appears_in_no_evidence_summary_log_or_page(
    service, lead, echoing: Served, portal_log: io.StringIO
) -> None:
    toml = (
        f'[service]\nname = "orders"\nbase_url = "{echoing.url}"\n'
        '[auth]\nusername = "probe"\n'
        '[hooks]\npreset = "reference"\ntimeout_s = 2\n'
        f'[repo]\nurl = "https://127.0.0.1:{echoing.port}/org/orders.git"\ntimeout_s = 5\n'
        "[mongo]\ntimeout_ms = 300\n"
        "[load]\ntarget_rps = 5\nduration_s = 2\n"
    )
    mongo = f"mongodb://probe:{MONGO_PASSWORD}@127.0.0.1:{closed_port()}/shop"
    profiles.profile_save(
        service=service,
        toml=toml,
        new_secrets={**CANARIES, "mongo_uri": mongo},
        clear=[],
        actor=lead,
    )
    run = ValidationRun.objects.create(service=service, keys=list(REGISTRY))
    assert runs.execute(run.pk) is not None
    # A log line that quotes a secret while a run is in progress (its Target alive).
    target = build_target(
        profiles.engine_profile(StagingProfile.objects.get(service=service)),
        outbound_policy(),
    )
    try:
        raise RuntimeError(f"staging said: bad password {CANARIES['password']}")
    except RuntimeError:
        logging.getLogger("checks").exception("probe login for %s", CANARIES["password"])
    target.close()

    results = list(CheckResult.objects.filter(run=run))
    assert len(results) == len(REGISTRY)
    stored = json.dumps([[r.key, r.summary, r.evidence] for r in results])
    # The staging really echoed the password (FastAPI's 422 "input"): masked where it was.
    jwt = next(r for r in results if r.key == "auth.jwt_flow")
    assert '"input":"***"' in json.dumps(jwt.evidence).replace('\\"', '"'), jwt.evidence
    drills = list(Drill.objects.filter(service=service))
    assert drills, "the drill checks recorded their drills"
    stored += json.dumps(
        [[d.summary, d.timeline, d.evidence, d.restore_note] for d in drills], default=str
    )
    stored += json.dumps([a.payload for a in AuditEvent.objects.all()], default=str)
    stored += run.message + StagingProfile.objects.get(service=service).toml
    assert_clean("the database", stored)

    client = Client()
    client.force_login(lead)
    pages = [
        reverse("checks:run-detail", args=[run.pk]),
        reverse("checks:run-history", args=["orders"]),
        reverse("checks:profile", args=["orders"]),
        reverse("portal:service-detail", args=["orders"]),
        reverse("portal:service-history", args=["orders"]),
        reverse("drills:history", args=["orders"]),
        *[reverse("drills:detail", args=[d.pk]) for d in drills],
        reverse("dashboards:service", args=["orders"]),
        f"/api/v1/runs/{run.pk}",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_clean(url, response.content.decode())
    for fmt in ("csv", "json"):  # the history's exports (streamed)
        url = reverse("portal:service-history-export", args=["orders", fmt])
        response = client.get(url)
        assert response.status_code == 200, url
        assert_clean(url, b"".join(response.streaming_content).decode())

    written = portal_log.getvalue()
    assert "probe login for ***" in written and "bad password ***" in written
    assert_clean("the log output", written)
