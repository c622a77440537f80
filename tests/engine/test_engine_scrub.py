"""The one scrubbing boundary (checks/engine/scrub.py): a run's secrets never leave the engine.

Staging here really echoes (tests/support/staging.py: FastAPI's own 422 ``input`` field, and a
plain-text 404 that repeats headers and body), over real HTTP on loopback. Each test first
makes sure the secret really came back from the service (the mask is where it was), so a
pass cannot come from a service that simply stayed quiet.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from app.jsonlog import JsonFormatter
from checks.catalog import REGISTRY
from checks.engine.cli import main
from checks.engine.http import DestinationPolicy
from checks.engine.profile import REDACTED, parse_profile
from checks.engine.registry import select_specs
from checks.engine.runner import run_checks, run_one
from checks.engine.scrub import MASK, Scrubber, ScrubFilter
from checks.engine.target import Target, build_target
from tests.support.staging import Served, create_staging, serve

CANARY = "canary-Pw:9/q+x%Z-7d1f"  # long, and full of characters echoes encode
OTP = "JBSWY3DPEHPK3PXPCANARYQQ"
HOOKS_TOKEN = "canary-hook-token-5e1"
REPO_TOKEN = "canary-repo-token-88a"
MONGO_PW = "canary-mongo:pw@x"
POLICY = DestinationPolicy(["127.0.0.1"])
SECRETS = (CANARY, OTP, HOOKS_TOKEN, REPO_TOKEN, "canary-mongo")


def profile_text(base_url: str) -> str:
    return (
        f'[service]\nname = "orders"\nbase_url = "{base_url}"\n'
        '[auth]\nusername = "probe"\npassword_env = "PW"\notp_secret_env = "OTP"\n'
        '[hooks]\npreset = "reference"\ntoken_env = "HOOKS"\n'
        '[repo]\nurl = "https://127.0.0.1:9/org/orders.git"\ntoken_env = "REPO"\n'
        '[mongo]\nuri_env = "MONGO"\n'
    )


ENV = {
    "PW": CANARY,
    "OTP": OTP,
    "HOOKS": HOOKS_TOKEN,
    "REPO": REPO_TOKEN,
    "MONGO": f"mongodb://probe:{quote_plus(MONGO_PW)}@127.0.0.1:9/shop",
}


def assert_clean(text: str) -> None:
    for secret in (*SECRETS, quote(CANARY, safe=""), quote_plus(CANARY), json.dumps(CANARY)):
        assert secret not in text


@pytest.fixture(scope="module")
def echoing() -> Iterator[Served]:
    with serve(*create_staging(echo=True)) as served:
        yield served


@pytest.fixture(scope="module")
def echoing_with_tokens() -> Iterator[Served]:
    with serve(*create_staging(echo=True, accept_login=True)) as served:
        yield served


# --- the mechanism ---------------------------------------------------------------------


def test_every_spelling_an_echo_produces_is_masked() -> None:
    scrubber = Scrubber([CANARY, "abc", None, ""])
    basic = base64.b64encode(f"probe:{CANARY}".encode()).decode()
    scrubber.add(f"probe:{CANARY}")
    for echo in (
        CANARY,
        quote(CANARY, safe=""),
        re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(CANARY, safe="")),
        quote_plus(CANARY),
        json.dumps({"input": CANARY}),
        repr({"password": CANARY}),
        f"Authorization: Basic {basic}",
    ):
        assert_clean(scrubber.text(f"before {echo} after"))
        assert MASK in scrubber.text(echo)
    assert scrubber.text("abc and ab") == "abc and ab"  # too short to be worth masking


def test_data_keys_and_values_are_masked_and_later_secrets_count() -> None:
    scrubber = Scrubber()
    data = {"a": [CANARY, {CANARY: 1}], "n": 3, "t": (CANARY,)}
    assert scrubber.data(data) == {"a": [CANARY, {CANARY: 1}], "n": 3, "t": [CANARY]}
    scrubber.add(CANARY)
    assert scrubber.data(data) == {"a": [MASK, {MASK: 1}], "n": 3, "t": [MASK]}


def test_secret_values_lists_every_secret_the_profile_holds() -> None:
    profile = parse_profile(profile_text("http://127.0.0.1:9"), env=ENV)
    values = profile.secret_values()
    for secret in (CANARY, OTP, HOOKS_TOKEN, REPO_TOKEN, MONGO_PW, ENV["MONGO"]):
        assert secret in values
    assert f"probe:{CANARY}" in values  # what HTTP Basic would base64
    # Guard for new secret fields: whatever the redacted form hides is a secret value.
    plain, shown = dataclasses.asdict(profile), profile.redacted()

    def hidden(original: object, redacted: object) -> list[str]:
        if isinstance(original, dict) and isinstance(redacted, dict):
            return [v for k in original for v in hidden(original[k], redacted.get(k))]
        if isinstance(original, str) and redacted == REDACTED:
            return [original]
        return []

    assert hidden(plain, shown) and set(hidden(plain, shown)) <= set(values)


def test_a_token_learned_during_the_run_is_masked(echoing_with_tokens: Served) -> None:
    t = build_target(parse_profile(profile_text(echoing_with_tokens.url), env=ENV), POLICY)
    token = t.access_token()  # learned at login, never in the profile
    assert token in echoing_with_tokens.seen.tokens
    assert t.scrubber.text(f"Bearer {token}") == f"Bearer {MASK}"
    t.add_secret("a-session-cookie-value")
    assert t.scrubber.text("a-session-cookie-value") == MASK


# --- at the boundary: outcomes, CLI, logs ------------------------------------------------


def test_jwt_flow_evidence_never_holds_the_password_fastapi_echoed(echoing: Served) -> None:
    t = build_target(parse_profile(profile_text(echoing.url), env=ENV), POLICY)
    outcome = run_one(t, REGISTRY["auth.jwt_flow"])
    shown = json.dumps(outcome.as_dict())
    # The probe's own login failing is "could not decide", never a verdict on the service.
    assert outcome.status == "error" and "answered 422" in outcome.summary, outcome.summary
    # FastAPI repeated the password in "input"; the boundary masked it.
    assert '\\"input\\":\\"***\\"' in shown, shown
    assert_clean(shown)


def test_no_outcome_of_any_http_check_holds_a_secret(echoing_with_tokens: Served) -> None:
    t = build_target(parse_profile(profile_text(echoing_with_tokens.url), env=ENV), POLICY)
    specs = select_specs(REGISTRY, steps=["smoke", "functional", "http"])
    outcomes = run_checks(t, specs)
    shown = json.dumps([o.as_dict() for o in outcomes])
    tokens = echoing_with_tokens.seen.tokens
    assert tokens, "the checks logged in"
    assert MASK in shown  # the echoes (Authorization headers, bodies) came back masked
    assert_clean(shown)
    for token in tokens:
        assert token not in shown


def test_cli_output_holds_no_secret(echoing: Served, tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(profile_text(echoing.url))
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["check", "--profile", str(path), "--only", "auth.jwt_flow,smoke.crud_cycle", "--json"],
        registry=REGISTRY,
        policy=POLICY,
        stdout=out,
        stderr=err,
        env=ENV,
    )
    assert code == 3  # the probe's login was refused (422): could not decide, no fail
    assert MASK in out.getvalue()
    assert_clean(out.getvalue() + err.getvalue())


def test_log_lines_are_scrubbed_by_the_handler_filter() -> None:
    target = Target(
        parse_profile(profile_text("http://127.0.0.1:9"), env=ENV),
        build_target(parse_profile(profile_text("http://127.0.0.1:9"), env=ENV), POLICY).http,
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubFilter())
    log = logging.getLogger("tests.scrub")
    log.addHandler(handler)
    try:
        log.warning("login with %s failed", CANARY, extra={"detail": f"pw={CANARY}"})
        try:
            raise RuntimeError(f"echoed {OTP} and {HOOKS_TOKEN}")
        except RuntimeError:
            log.exception("hook failed")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()
    assert written.count(MASK) >= 4 and "RuntimeError" in written
    assert_clean(written)
    del target
