"""Preflight validates itself (issue 9, acceptance 1).

The portal runs on a loopback port (pytest-django's ``live_server``), is registered as a
service of its own with a staging profile pointing at that port, and every catalog check that
applies to it must pass: once through the engine's runner, once as a real validation run whose
results land as CheckResult rows of the portal's own service. A deliberately misconfigured
portal (idempotency records that expire at once, login throttling off) must fail. Nothing is
mocked: real HTTP over loopback, real django-axes, the real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from checks import selectors as checks_selectors
from checks.catalog import REGISTRY
from checks.engine import build_target, parse_profile, run_checks
from checks.engine.http import close_shared_clients
from checks.engine.outcome import Outcome, Status
from checks.models import CheckResult, ValidationRun
from checks.services import profiles, runs
from portal import services as portal_services
from portal.models import Service

pytestmark = pytest.mark.django_db(transaction=True)

PROBE_PASSWORD = "dogfood-probe-password-7c1e"
# Every catalog check that applies to the portal. Not: ping_db, crud-free auth flows with
# refresh/OTP, deprecation (no legacy route), TLS/CORS/body limits of a deployment, drills,
# database and repository checks — those need infrastructure this test does not stand up.
KEYS = [
    "smoke.health",
    "security.headers",
    "observability.request_id",
    "observability.metrics",
    "api.error_format",
    "api.openapi",
    "api.cursor_pagination",
    "reliability.idempotency",
    "security.rate_limit",
]


def profile_toml(base_url: str) -> str:
    """The portal's own staging profile: its API in place of the reference /items."""
    return f"""
[service]
name = "preflight"
base_url = "{base_url}"
[auth]
username = "probe"
read_scope = "read"
write_scope = "annotations:write"
[paths]
items = "/api/v1/annotations"
login = "/api/v1/auth/login"
openapi = "/api/v1/openapi.json"
ping_db = ""
version = ""
refresh = ""
otp_verify = ""
legacy_items = ""
[limits]
login_attempts = {settings.AXES_FAILURE_LIMIT}
"""


@pytest.fixture
def portal(live_server, team, template) -> Iterator[tuple[Service, str]]:
    """The running portal, registered as a service of its own, with throttling on."""
    User.objects.create_user(username="probe", password=PROBE_PASSWORD)
    service = portal_services.service_create(
        name="Preflight",
        slug="preflight",
        team=team,
        template=template,
        tier=1,
        staging_base_url=live_server.url,
    )
    profiles.profile_save(
        service=service,
        toml=profile_toml(live_server.url),
        new_secrets={"password": PROBE_PASSWORD},
        clear=[],
        actor=None,
    )
    try:
        with override_settings(AXES_ENABLED=True):
            yield service, live_server.url
    finally:
        # Kept-alive connections would hold the live server's threads, and with them their
        # database connections (PostgreSQL then refuses to drop the test database).
        close_shared_clients()


def _run_engine(base_url: str, keys: list[str]) -> dict[str, Outcome]:
    text = profile_toml(base_url).replace(
        'username = "probe"', f'username = "probe"\npassword = "{PROBE_PASSWORD}"'
    )
    target = build_target(parse_profile(text, env={}), checks_selectors.outbound_policy())
    try:
        outcomes = run_checks(target, [REGISTRY[key] for key in keys])
    finally:
        target.close()
    return {outcome.key: outcome for outcome in outcomes}


def _report(outcomes: dict[str, Outcome]) -> str:
    report = "\n".join(f"{o.key}: {o.status} {o.summary}" for o in outcomes.values())
    print(report)  # shown with -s, and by pytest when an assertion fails
    return report


def test_preflight_passes_its_own_checks(portal) -> None:
    service, base_url = portal
    outcomes = _run_engine(base_url, KEYS)
    report = _report(outcomes)
    assert {key: o.status for key, o in outcomes.items()} == dict.fromkeys(KEYS, Status.PASS), (
        report
    )
    assert "OTP attempts not probed" in outcomes["security.rate_limit"].summary
    assert "all 9 reference operations" in outcomes["api.openapi"].summary

    run = runs.run_request(service=service, actor=None, keys=KEYS)
    finished = runs.execute(run.pk)
    assert finished is not None
    results = {r.key: r for r in CheckResult.objects.filter(run=run, run__service=service)}
    report = "\n".join(f"{r.key}: {r.status} {r.summary}" for r in results.values())
    assert set(results) == set(KEYS), report
    assert all(r.status == "pass" for r in results.values()), report
    assert finished.status == ValidationRun.Status.PASSED, finished.message


def test_a_misconfigured_preflight_fails_its_own_checks(portal) -> None:
    _service, base_url = portal
    # Idempotency records that expire at once, and login throttling switched off: both are
    # settings an operator could get wrong, and the checks must notice.
    with override_settings(PREFLIGHT_IDEMPOTENCY_TTL_HOURS=0, AXES_ENABLED=False):
        outcomes = _run_engine(
            base_url, ["reliability.idempotency", "security.rate_limit", "smoke.health"]
        )
    idempotency, rate_limit = outcomes["reliability.idempotency"], outcomes["security.rate_limit"]
    assert idempotency.status == Status.FAIL, _report(outcomes)
    assert "same Idempotency-Key and body answered" in idempotency.summary
    assert rate_limit.status == Status.FAIL and "never got 429" in rate_limit.summary
    assert outcomes["smoke.health"].status == Status.PASS
