"""Catalog tests run every check over real HTTP on loopback against the reference service.

Profiles are built the way users write them (TOML through ``parse_profile``) and requests go
through the real guarded client, allowlisted to loopback only.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from checks.catalog import REGISTRY
from checks.engine.http import DestinationPolicy
from checks.engine.outcome import Outcome
from checks.engine.profile import parse_profile
from checks.engine.runner import run_one
from checks.engine.target import Target, build_target
from tests.support.refservice import RunningReferenceService, run_reference_service

POLICY = DestinationPolicy(allow=["127.0.0.0/8", "localhost"])
# The checks of this folder's HTTP tests: runbook steps 2-3 and the items verified over HTTP.
HTTP_SPECS = {k: s for k, s in REGISTRY.items() if s.step in ("smoke", "functional", "http")}
# Checks, the healthy-registry run and the OTP re-runs all log in as the probe user within one
# minute; the reference default (10) would trip. The profile states the same limit.
LOGIN_LIMIT = 40


def profile_toml(
    base_url: str,
    *,
    password: str | None = None,
    otp_secret: str | None = None,
    extra: str = "",
) -> str:
    """A profile for ``base_url``; auth only when a password is given."""
    text = f'[service]\nname = "reference"\nbase_url = "{base_url}"\n'
    if password is not None:
        text += f'[auth]\nusername = "probe"\npassword = "{password}"\n'
        if otp_secret is not None:
            text += f'otp_secret = "{otp_secret}"\n'
    text += f"[limits]\nlogin_attempts = {LOGIN_LIMIT}\n"
    return text + extra


def target_for(
    service: RunningReferenceService, *, auth: bool = True, otp: bool = True, extra: str = ""
) -> Target:
    text = profile_toml(
        service.base_url,
        password=service.password if auth else None,
        otp_secret=service.otp_secret if auth and otp else None,
        extra=extra,
    )
    return build_target(parse_profile(text, env={}), POLICY)


def run_key(target: Target, key: str) -> Outcome:
    return run_one(target, REGISTRY[key])


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released without listen()."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def healthy() -> Iterator[RunningReferenceService]:
    """One healthy instance per module (the shared fixture's default login limit is too low)."""
    with run_reference_service(login_limit=LOGIN_LIMIT) as service:
        yield service


@pytest.fixture(scope="module")
def healthy_target(healthy: RunningReferenceService) -> Target:
    """One Target per module, so its cached login is shared like in a real run."""
    return target_for(healthy, extra='[cors]\nallowed_origin = "https://app.example.com"\n')
