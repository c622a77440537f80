"""Checks never blame the service for what they could not do: an unreachable service gives
``error``, a profile without a needed setting gives ``skip`` naming it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from checks.engine.outcome import Status
from checks.engine.profile import parse_profile
from checks.engine.runner import run_checks
from checks.engine.target import build_target
from tests.catalog.conftest import (
    HTTP_SPECS,
    POLICY,
    closed_port,
    profile_toml,
    run_key,
    target_for,
)
from tests.support.refservice import RunningReferenceService

Factory = Callable[..., RunningReferenceService]

NEEDS_LOGIN = [
    "smoke.crud_cycle",
    "api.cursor_pagination",
    "auth.jwt_flow",
    "auth.otp_flow",
    "reliability.idempotency",
]


def test_every_check_errors_when_the_service_is_unreachable() -> None:
    port = closed_port()
    extra = f'[tls]\nhttps_url = "https://127.0.0.1:{port}"\nhttp_url = "http://127.0.0.1:{port}"\n'
    text = profile_toml(
        f"http://127.0.0.1:{port}", password="pw", otp_secret="JBSWY3DPEHPK3PXP", extra=extra
    )
    outcomes = run_checks(
        build_target(parse_profile(text, env={}), POLICY), list(HTTP_SPECS.values())
    )
    assert {o.key: o.status for o in outcomes} == dict.fromkeys(HTTP_SPECS, Status.ERROR)


@pytest.mark.parametrize("key", NEEDS_LOGIN)
def test_checks_needing_a_login_skip_without_auth(
    healthy: RunningReferenceService, key: str
) -> None:
    outcome = run_key(target_for(healthy, auth=False), key)
    assert outcome.status == Status.SKIP, outcome.as_dict()
    assert "auth.username" in outcome.summary


def test_deprecation_skips_when_the_deprecated_route_needs_a_login(
    healthy: RunningReferenceService,
) -> None:
    outcome = run_key(target_for(healthy, auth=False), "api.deprecation")
    assert outcome.status == Status.SKIP
    assert "auth.username" in outcome.summary


def test_otp_flow_skips_naming_the_otp_secret(healthy: RunningReferenceService) -> None:
    outcome = run_key(target_for(healthy, otp=False), "auth.otp_flow")
    assert outcome.status == Status.SKIP
    assert "auth.otp_secret" in outcome.summary


def test_rate_limit_judges_logins_and_says_otp_was_not_probed(
    reference_service_factory: Factory,
) -> None:
    outcome = run_key(target_for(reference_service_factory(), auth=False), "security.rate_limit")
    # The reference default (10) is below the profile's 40: a stricter limit is fine.
    assert outcome.status == Status.PASS
    assert "OTP attempts not probed: missing setting auth.username" in outcome.summary


def test_checks_without_credentials_still_decide(healthy: RunningReferenceService) -> None:
    target = target_for(healthy, auth=False)
    keys = ["api.error_format", "security.request_limits", "security.cors", "security.headers"]
    assert {k: run_key(target, k).status for k in keys} == dict.fromkeys(keys, Status.PASS)
