"""Each flaw switch of the reference service makes exactly the matching check fail, and the
summary says what was wrong."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from checks.engine.outcome import Status
from tests.catalog.conftest import LOGIN_LIMIT, run_key, target_for
from tests.support.refservice import RunningReferenceService

Factory = Callable[..., RunningReferenceService]

# flaw -> (key that must fail, a phrase its summary must contain)
FLAWS: dict[str, tuple[str, str]] = {
    "health_down": ("smoke.health", "GET /health answered 500, expected 200"),
    "ping_db_broken": ("smoke.ping_db", "GET /ping-db answered 503, expected 200"),
    "crud_delete_noop": (
        "smoke.crud_cycle",
        "DELETE /items/{id} answered 204 but GET afterwards answered 200",
    ),
    "offset_pagination": ("api.cursor_pagination", "were never returned"),
    "no_rate_limit": ("security.rate_limit", "never got 429"),
    "jwt_no_exp": ("auth.jwt_flow", "no numeric exp claim"),
    "refresh_reuse": ("auth.jwt_flow", "accepted a refresh token a second time"),
    "no_scope_check": ("auth.jwt_flow", "answered 201, expected 403"),
    "otp_reuse": ("auth.otp_flow", "to a code it had just accepted, expected 401"),
    "cors_wildcard": ("security.cors", "Access-Control-Allow-Origin: *"),
    "no_security_headers": ("security.headers", "lacks Content-Security-Policy"),
    "no_body_limit": ("security.request_limits", "expected 413"),
    "plain_errors": ("api.error_format", "no top-level 'error' object"),
    "openapi_incomplete": ("api.openapi", "does not document GET /items, POST /items"),
    "no_deprecation_header": ("api.deprecation", "GET /v0/items (200) lacks Deprecation"),
    "no_idempotency": ("reliability.idempotency", "same Idempotency-Key and body answered"),
    "no_request_id": ("observability.request_id", "carried none"),
    "metrics_incomplete": ("observability.metrics", "lacks a latency histogram"),
}


@pytest.mark.parametrize(("flaw", "key", "phrase"), [(f, *v) for f, v in FLAWS.items()])
def test_a_flaw_makes_its_check_fail(
    reference_service_factory: Factory, flaw: str, key: str, phrase: str
) -> None:
    service = reference_service_factory(flaws=[flaw], login_limit=LOGIN_LIMIT)
    outcome = run_key(target_for(service), key)
    assert outcome.status == Status.FAIL, outcome.as_dict()
    assert phrase in outcome.summary


def test_a_scope_violation_does_not_leave_the_item_behind(
    reference_service_factory: Factory,
) -> None:
    service = reference_service_factory(flaws=["no_scope_check"], login_limit=LOGIN_LIMIT)
    run_key(target_for(service), "auth.jwt_flow")
    with service.client() as client:
        listing = client.get("/items?limit=100", headers=service.auth_headers()).json()
    assert listing["items"] == []


def test_rate_limit_fails_when_otp_attempts_alone_are_unlimited(
    reference_service_factory: Factory,
) -> None:
    # Logins limited, OTP not: a limit of 1000 OTP attempts is as good as none for the probe.
    service = reference_service_factory(login_limit=LOGIN_LIMIT, otp_limit=1000)
    outcome = run_key(target_for(service), "security.rate_limit")
    assert outcome.status == Status.FAIL
    assert "POST /auth/otp/verify (wrong code) attempts (limit 5) never got 429" in outcome.summary
