"""A profile route set to "" means the service does not offer it: ``api.openapi`` stops
requiring it, checks that need it answer skip (never probe "/" instead), and every offered
route is still required. The reference service, offering everything, needs all 14."""

from __future__ import annotations

import pytest

from checks.catalog.api import reference_routes
from checks.engine.outcome import Status
from checks.engine.profile import ProfileError, parse_profile
from tests.catalog.conftest import run_key, target_for
from tests.support.refservice import RunningReferenceService

UNOFFERED = '[paths]\nping_db = ""\nversion = ""\nlegacy_items = ""\n'


def test_an_empty_route_is_accepted_and_only_an_empty_one() -> None:
    base = '[service]\nname = "s"\nbase_url = "http://127.0.0.1:1"\n'
    profile = parse_profile(base + UNOFFERED, env={})
    assert (profile.paths.ping_db, profile.paths.version, profile.paths.health) == (
        "",
        "",
        "/health",
    )
    for bad in ('" "', '"ping-db"', "0"):
        with pytest.raises(ProfileError, match=r"paths\.ping_db"):
            parse_profile(base + f"[paths]\nping_db = {bad}\n", env={})


def test_the_reference_service_still_needs_all_fourteen_routes(
    healthy: RunningReferenceService,
) -> None:
    target = target_for(healthy)
    assert len(reference_routes(target)) == 14
    outcome = run_key(target, "api.openapi")
    assert outcome.status == Status.PASS and "all 14 reference operations" in outcome.summary


def test_unoffered_routes_are_not_required_by_api_openapi(
    healthy: RunningReferenceService,
) -> None:
    target = target_for(healthy, extra=UNOFFERED)
    routes = reference_routes(target)
    assert len(routes) == 11 and ("get", "/ping-db") not in routes
    outcome = run_key(target, "api.openapi")
    assert outcome.status == Status.PASS and "all 11 reference operations" in outcome.summary


def test_offered_routes_are_still_required(healthy: RunningReferenceService) -> None:
    # The reference documents /items, not /things: leaving other routes out excuses nothing.
    target = target_for(healthy, extra=UNOFFERED + 'items = "/things"\n')
    outcome = run_key(target, "api.openapi")
    assert outcome.status == Status.FAIL
    assert "GET /things, POST /things, GET /things/{id}" in outcome.summary


def test_a_check_needing_an_unoffered_route_skips_instead_of_probing_the_root(
    healthy: RunningReferenceService,
) -> None:
    outcome = run_key(target_for(healthy, extra=UNOFFERED), "smoke.ping_db")
    assert outcome.status == Status.SKIP
    assert "paths.ping_db" in outcome.summary and "does not offer" in outcome.summary
