"""Login styles against real services on loopback (issue 12, item 1): OAuth2 password form,
a JSON body template with nested credentials, the client-credentials grant at an external
token endpoint, a static API key; one login per scope per run; a 429 on the probe's own login
reported as exactly that (waited out when short); a short TOTP secret is a finding of
auth.otp_flow while the codes are still computed; the optional OTP step at login."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pyotp
import pytest

from checks.catalog import REGISTRY
from checks.engine.outcome import Status
from checks.engine.profile import ProfileError, parse_profile
from checks.engine.runner import run_checks, run_one
from checks.engine.target import LoginRateLimited, Target, build_target
from tests.catalog.conftest import POLICY
from tests.support.realservices import RunningRealService, run_real_service
from tests.support.refservice import run_reference_service

HTTP_SPECS = [s for s in REGISTRY.values() if s.step in ("smoke", "functional", "http")]


def target(base_url: str, body: str, env: dict[str, str] | None = None) -> Target:
    text = f'[service]\nname = "svc"\nbase_url = "{base_url}"\n{body}'
    return build_target(parse_profile(text, env=env or {}), POLICY)


@pytest.fixture(scope="module")
def token_endpoint() -> Iterator[RunningRealService]:
    issuer = secrets.token_urlsafe(32)
    with run_real_service(
        "token_server",
        CLIENT_ID="preflight-probe",
        CLIENT_SECRET=secrets.token_urlsafe(16),
        ISSUER_SECRET=issuer,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def widgets(token_endpoint: RunningRealService) -> Iterator[RunningRealService]:
    with run_real_service("widgets_app", ISSUER_SECRET=token_endpoint.env["ISSUER_SECRET"]) as s:
        yield s


def _issued(server: RunningRealService) -> int:
    return int(httpx.get(server.base_url + "/stats").json()["tokens"])


def test_client_credentials_log_in_once_at_the_token_endpoint_for_the_whole_run(
    token_endpoint: RunningRealService, widgets: RunningRealService
) -> None:
    before = _issued(token_endpoint)
    t = target(
        widgets.base_url,
        f"""[auth]
style = "client_credentials"
token_url = "{token_endpoint.base_url}/oauth/token"
client_id = "{token_endpoint.username}"
client_secret_env = "CLIENT_SECRET"
read_scope = ""
[paths]
items = "/v1/widgets"
login = ""
[resource]
create_body = {{ name = "${{marker}}", weight_grams = 5 }}
pagination = "page"
limit_param = "size"
""",
        env={"CLIENT_SECRET": token_endpoint.password},
    )
    keys = ["smoke.crud_cycle", "reliability.idempotency", "api.deprecation", "auth.jwt_flow"]
    outcomes = {o.key: o for o in run_checks(t, [REGISTRY[k] for k in keys])}
    assert outcomes["smoke.crud_cycle"].status == Status.PASS, outcomes["smoke.crud_cycle"]
    assert outcomes["reliability.idempotency"].status == Status.PASS
    # A 300 s token with no refresh (the grant issues none): judged up to what it can reach.
    jwt = outcomes["auth.jwt_flow"]
    assert jwt.status == Status.SKIP and jwt.evidence["setting"] == "paths.refresh", jwt
    assert "exp within 900 s" in jwt.summary
    assert _issued(token_endpoint) - before == 1
    assert t.logins == 1
    token = t.access_token()
    assert token in t.secret_values() and token_endpoint.password in t.secret_values()


def test_a_wrong_client_secret_is_the_probes_error_not_a_verdict(
    token_endpoint: RunningRealService, widgets: RunningRealService
) -> None:
    t = target(
        widgets.base_url,
        f"""[auth]
style = "client_credentials"
token_url = "{token_endpoint.base_url}/oauth/token"
client_id = "{token_endpoint.username}"
client_secret = "wrong"
[paths]
items = "/v1/widgets"
""",
    )
    outcome = run_one(t, REGISTRY["smoke.crud_cycle"])
    assert outcome.status == Status.ERROR
    assert "the probe's login failed: POST /oauth/token answered 401" in outcome.summary


def test_a_static_api_key_from_the_environment_is_sent_in_its_header(
    widgets: RunningRealService,
) -> None:
    body = '[auth]\nstyle = "static"\nheader = "X-API-Key"\ntoken_env = "KEY"\n'
    t = target(widgets.base_url, body, env={"KEY": widgets.password})
    assert t.auth_headers() == {"X-API-Key": widgets.password}
    assert widgets.password in t.profile.secret_values()
    assert widgets.password not in repr(t.profile)
    assert httpx.get(widgets.base_url + "/v1/widgets", headers=t.auth_headers()).status_code == 200


def test_a_missing_static_token_skips_naming_it(widgets: RunningRealService) -> None:
    t = target(widgets.base_url, '[auth]\nstyle = "static"\n[paths]\nitems = "/v1/widgets"\n')
    outcome = run_one(t, REGISTRY["smoke.crud_cycle"])
    assert (outcome.status, outcome.evidence["setting"]) == (Status.SKIP, "auth.token")


def test_a_nested_json_login_with_a_token_scheme() -> None:
    with run_real_service("conduit_app") as conduit:
        t = target(
            conduit.base_url,
            f"""[auth]
username = "{conduit.username}"
password_env = "PW"
body = {{ user = {{ email = "${{username}}", password = "${{password}}" }} }}
token_path = "user.token"
scheme = "Token"
[paths]
login = "/api/users/login"
""",
            env={"PW": conduit.password},
        )
        headers = t.auth_headers()
        assert headers["Authorization"].startswith("Token ")
        me = httpx.get(conduit.base_url + "/api/user", headers=headers)
        assert me.status_code == 200 and me.json()["user"]["email"] == conduit.username


def test_the_probes_own_429_is_reported_as_such_when_the_wait_is_long() -> None:
    # Five logins in two minutes per e-mail: the sixth login must wait ~120 s, past the 60 s
    # the probe waits out, so it is an error saying exactly that, never another verdict.
    with run_real_service("conduit_app", LOGIN_LIMIT="1", LOGIN_WINDOW_S="120") as conduit:
        body = f"""[auth]
username = "{conduit.username}"
password_env = "PW"
body = {{ user = {{ email = "${{username}}", password = "${{password}}" }} }}
token_path = "user.token"
scheme = "Token"
read_scope = ""
[paths]
login = "/api/users/login"
items = "/api/articles"
protected = "/api/user"
refresh = ""
"""
        target(conduit.base_url, body, env={"PW": conduit.password}).access_token()
        later = target(conduit.base_url, body, env={"PW": conduit.password})
        with pytest.raises(LoginRateLimited) as raised:
            later.access_token()
        assert int(raised.value.retry_after or 0) > 60
        outcomes = run_checks(later, [REGISTRY["smoke.crud_cycle"], REGISTRY["auth.jwt_flow"]])
        for outcome in outcomes:
            assert outcome.status == Status.ERROR, outcome
            assert "the probe's own login was rate limited" in outcome.summary
            assert "answered 429 (Retry-After: " in outcome.summary


def test_a_short_429_on_the_probes_login_is_waited_out() -> None:
    waits: list[float] = []
    with run_reference_service(login_limit=1, rate_window=2) as ref:
        body = f'[auth]\nusername = "probe"\npassword = "{ref.password}"\n'
        first = target(ref.base_url, body)
        first.access_token()

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        second = Target(first.profile, first.http, sleep=sleep)
        assert second.access_token()
    assert len(waits) == 1 and 0 < waits[0] <= 3.5


def test_a_short_totp_secret_is_a_finding_and_codes_are_still_computed() -> None:
    short = "JBSWY3DPEHPK3PXP"  # 80 bits: pyotp itself refuses it with a ValueError
    with run_reference_service(otp_secret=short, login_limit=40) as ref:
        body = f'[auth]\nusername = "probe"\npassword = "{ref.password}"\notp_secret = "{short}"\n'
        body += "[limits]\nlogin_attempts = 40\n"
        t = target(ref.base_url, body)
        otp = run_one(t, REGISTRY["auth.otp_flow"])
        assert otp.status == Status.FAIL, otp
        assert "the TOTP secret is 80 bits; RFC 4226 asks for at least 128" in otp.summary
        assert "the flow itself worked" in otp.summary
        limit = run_one(t, REGISTRY["security.rate_limit"])
        assert limit.status == Status.PASS, limit
        assert "OTP verification after" in limit.summary


def test_the_optional_otp_step_runs_right_after_the_password() -> None:
    with run_reference_service(login_limit=40) as ref:
        body = (
            f'[auth]\nusername = "probe"\npassword = "{ref.password}"\n'
            f'otp_secret = "{ref.otp_secret}"\notp_on_login = true\n'
        )
        t = target(ref.base_url, body)
        assert run_one(t, REGISTRY["smoke.crud_cycle"]).status == Status.PASS
        # The step spent the current code: submitting it again is refused as a reuse.
        reused = httpx.post(
            ref.base_url + "/auth/otp/verify",
            headers=t.auth_headers(),
            json={"code": pyotp.TOTP(ref.otp_secret).now()},
        )
        assert reused.status_code == 401


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ('style = "saml"', "auth.style"),
        ('body = { user = "${username}" }', "auth.body"),
        ('body = { u = "${username}", p = "${password}", x = "${nope}" }', "auth.body"),
        ('style = "static"\nbody = { p = "${password}" }', "auth.body"),
        ('header = "X API Key"', "auth.header"),
        ('scheme = "Bearer token"', "auth.scheme"),
        ('token_path = "user..token"', "auth.token_path"),
        ('token = "a"\ntoken_env = "B"', "auth.token"),
        ("otp_on_login = 1", "auth.otp_on_login"),
    ],
)
def test_bad_auth_settings_are_refused_naming_the_field(auth: str, field: str) -> None:
    with pytest.raises(ProfileError) as raised:
        parse_profile(f'[service]\nname = "s"\nbase_url = "http://x"\n[auth]\n{auth}\n', env={})
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ('[resource]\nitem_path = "/items/{item_id}"', "resource.item_path"),
        ('[resource]\ncreate_body = { name = "fixed" }', "resource.create_body"),
        ('[resource]\nupdate_method = "POST"', "resource.update_method"),
        ('[resource]\npagination = "keyset"', "resource.pagination"),
        ('[resource]\nlimit_param = "a&b"', "resource.limit_param"),
        ('[resource]\nsort = "x"', "resource.sort"),
        ("[status]\ncreated = [302]", "status.created"),
        ("[status]\nbad_credentials = []", "status.bad_credentials"),
    ],
)
def test_bad_resource_and_status_settings_are_refused(table: str, field: str) -> None:
    with pytest.raises(ProfileError) as raised:
        parse_profile(f'[service]\nname = "s"\nbase_url = "http://x"\n{table}\n', env={})
    assert raised.value.field == field
