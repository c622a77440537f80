"""Against a healthy reference service every check passes (security.tls needs a TLS setup,
see test_catalog_tls.py), alone and as one whole run through the runner."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from checks.engine.outcome import Status
from checks.engine.runner import run_checks
from checks.engine.target import Target
from tests.catalog.conftest import HTTP_SPECS, run_key, target_for
from tests.support.refservice import RunningReferenceService

Factory = Callable[..., RunningReferenceService]
HTTP_KEYS = sorted(key for key in HTTP_SPECS if key != "security.tls")


@pytest.mark.parametrize("key", HTTP_KEYS)
def test_it_passes_against_a_healthy_service(healthy_target: Target, key: str) -> None:
    outcome = run_key(healthy_target, key)
    assert outcome.status == Status.PASS, outcome.as_dict()


def test_otp_flow_passes_twice_back_to_back(reference_service_factory: Factory) -> None:
    # The replay guard refuses any step at or before the last accepted one, so the second run
    # must move on to the next step's code instead of failing. A fresh instance: on the shared
    # one, other tests' runs would have used those steps already.
    target = target_for(reference_service_factory())
    first, second = run_key(target, "auth.otp_flow"), run_key(target, "auth.otp_flow")
    assert (first.status, second.status) == (Status.PASS, Status.PASS), second.as_dict()


def test_pagination_cleans_up_the_items_it_created(
    healthy: RunningReferenceService, healthy_target: Target
) -> None:
    assert run_key(healthy_target, "api.cursor_pagination").status == Status.PASS
    with healthy.client() as client:
        listing = client.get("/items?limit=100", headers=healthy.auth_headers()).json()
    assert not [i for i in listing["items"] if any("preflight-" in t for t in i["tags"])]


def test_the_whole_registry_passes_but_tls_skips_without_https_url(
    healthy: RunningReferenceService,
) -> None:
    outcomes = run_checks(target_for(healthy), list(HTTP_SPECS.values()))
    statuses = {o.key: o.status for o in outcomes}
    assert statuses.pop("security.tls") == Status.SKIP
    assert set(statuses.values()) == {Status.PASS}, [o.as_dict() for o in outcomes]
    tls = next(o for o in outcomes if o.key == "security.tls")
    assert "tls.https_url" in tls.summary


def test_results_never_carry_secrets_or_tokens(healthy: RunningReferenceService) -> None:
    target = target_for(healthy)
    # The OTP flow is covered elsewhere; a third acceptance within one 30 s step would wait.
    skip = {"security.rate_limit", "auth.otp_flow"}
    outcomes = run_checks(target, [s for k, s in HTTP_SPECS.items() if k not in skip])
    dumped = json.dumps([o.as_dict() for o in outcomes])
    token = target.access_token()
    for secret in (healthy.password, healthy.otp_secret, token, token.split(".")[1], "Bearer "):
        assert secret not in dumped
