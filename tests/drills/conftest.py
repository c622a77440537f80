"""Drill tests: real reference services on loopback, real hooks over HTTP, real Locust.

``drill_target`` builds an engine Target the way the CLI does (TOML through parse_profile,
the guarded client allowlisted to loopback); ``drill_extra`` is the profile part drills need.
"""

from __future__ import annotations

from typing import Any

import httpx

from checks.engine.profile import parse_profile
from checks.engine.target import Target, build_target
from tests.catalog.conftest import POLICY, profile_toml
from tests.support.refservice import RunningReferenceService

# Short and bounded: drills in tests hold seconds, not minutes.
LOAD = "[load]\ntarget_rps = 25\nduration_s = 4\np95_ms = 1000\ncache_hit_target = 0.2\n"
ROLLOUT = "[rollout]\nsample_size = 200\nwindow_s = 1\ndeadline_s = 3\n"


def drill_extra(ref: RunningReferenceService, *, more: str = "") -> str:
    return f'[hooks]\npreset = "reference"\ntoken = "{ref.drill_token}"\n{LOAD}{ROLLOUT}{more}'


def drill_target(ref: RunningReferenceService, *, more: str = "") -> Target:
    text = profile_toml(ref.base_url, password=ref.password, extra=drill_extra(ref, more=more))
    return build_target(parse_profile(text, env={}), POLICY)


def drill_state(ref: RunningReferenceService) -> dict[str, Any]:
    response = httpx.get(ref.base_url + "/__drill/state", headers=ref.drill_headers())
    state: dict[str, Any] = response.json()
    return state


def seed(ref: RunningReferenceService, value: int = 7) -> None:
    """Fix the canary's traffic split so a share test cannot fail by chance."""
    ref.app.state.ref.drills.rng.seed(value)
