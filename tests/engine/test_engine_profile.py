"""Profile loading: documented defaults, secrets from the environment, every bad field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.engine.profile import Profile, ProfileError, load_profile, parse_profile

MINIMAL = """
[service]
name = "orders"
base_url = "http://127.0.0.1:8001/"
"""


def test_a_minimal_profile_gets_the_documented_defaults() -> None:
    profile = parse_profile(MINIMAL, env={})
    assert profile.service.name == "orders"
    assert profile.service.base_url == "http://127.0.0.1:8001"
    assert profile.auth.username is None and profile.auth.password is None
    assert (profile.auth.read_scope, profile.auth.write_scope) == ("items:read", "items:write")
    assert profile.auth.max_token_lifetime_s == 900
    assert profile.paths.health == "/health" and profile.paths.ping_db == "/ping-db"
    assert (
        profile.paths.openapi == "/openapi.json" and profile.paths.otp_verify == "/auth/otp/verify"
    )
    assert profile.paths.legacy_items == "/v0/items"
    assert (profile.limits.login_attempts, profile.limits.otp_attempts) == (10, 5)
    assert (profile.limits.body_bytes, profile.limits.page_size) == (1048576, 3)
    assert profile.tls.https_url is None and profile.tls.min_hsts_max_age == 15552000
    assert profile.cors.foreign_origin == "https://evil.example"
    assert (profile.http.timeout_s, profile.http.max_body_bytes, profile.http.concurrency) == (
        10.0,
        5242880,
        4,
    )
    assert profile.mongo.uri is None and profile.mongo.hot_queries == ()
    assert profile.load.target_rps is None


def test_the_documented_example_loads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "staging-ca.pem").write_text("not checked here")
    path = tmp_path / "orders.toml"
    path.write_text(
        MINIMAL
        + """
[auth]
username = "probe"
password_env = "ORDERS_PROBE_PASSWORD"
otp_secret_env = "ORDERS_OTP_SECRET"
[tls]
https_url = "https://127.0.0.1:8443"
http_url = "http://127.0.0.1:8080"
ca_file = "staging-ca.pem"
[mongo]
uri = "mongodb://u:pw@db/x"
hot_queries = [{collection = "items", filter = {owner = 1}}]
"""
    )
    env = {"ORDERS_PROBE_PASSWORD": "s3cret-pw", "ORDERS_OTP_SECRET": "JBSWY3DPEHPK3PXP"}
    profile = load_profile(path, env=env)
    assert profile.auth.password == "s3cret-pw"
    assert profile.auth.otp_secret == "JBSWY3DPEHPK3PXP"
    assert profile.tls.ca_file == tmp_path / "staging-ca.pem"  # relative to the profile file
    assert profile.mongo.hot_queries[0].collection == "items"


def test_secrets_never_appear_in_repr_or_redacted_form() -> None:
    profile = parse_profile(
        MINIMAL
        + '[auth]\nusername = "probe"\npassword = "hunter2-pw"\notp_secret = "JBSWY3DPEHPK3PXP"\n'
        + '[mongo]\nuri = "mongodb://u:mongo-pw@db/x"\n'
        + '[hooks.redis_down]\nurl = "/__drill/redis"\nheaders = {X-Token = "tok-9"}\n',
        env={},
    )
    shown = repr(profile) + str(profile.redacted()) + repr(profile.auth)
    for secret in ("hunter2-pw", "JBSWY3DPEHPK3PXP", "mongo-pw", "tok-9"):
        assert secret not in shown
    assert profile.redacted()["auth"]["username"] == "probe"
    assert isinstance(profile, Profile)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("[auth]\npassword_env = 'ORDERS_PW'\n", "auth.password_env", "ORDERS_PW is not set"),
        ("[auth]\npassword = 'a'\npassword_env = 'X'\n", "auth.password", "not both"),
        ("[auth]\notp_secret = 'a'\notp_secret_env = 'X'\n", "auth.otp_secret", "not both"),
        ("[auth]\notp_secret = 'not base32!'\n", "auth.otp_secret", "base32"),
        ("[auth]\nusername = 3\n", "auth.username", "string"),
        ("[auth]\nmax_token_lifetime_s = 0\n", "auth.max_token_lifetime_s", "integer"),
        ("[auth]\nsurname = 'x'\n", "auth.surname", "unknown key"),
        ("[limits]\npage_size = 0\n", "limits.page_size", "integer between 1 and 100"),
        ("[limits]\npage_size = 101\n", "limits.page_size", "integer between 1 and 100"),
        ("[limits]\npage_size = true\n", "limits.page_size", "integer"),
        ("[limits]\nbody_bytes = '1MB'\n", "limits.body_bytes", "integer"),
        ("[paths]\nbogus = '/x'\n", "paths.bogus", "unknown key"),
        ("[paths]\nhealth = 'health'\n", "paths.health", "starting with /"),
        ("[tls]\nhttps_url = 'ftp://x'\n", "tls.https_url", "http(s) URL"),
        ("[tls]\nca_file = 'missing.pem'\n", "tls.ca_file", "file not found"),
        ("[cors]\nallowed_origin = 'https://a.example/path'\n", "cors.allowed_origin", "origin"),
        ("[http]\ntimeout_s = -1\n", "http.timeout_s", "seconds"),
        ("[http]\nconcurrency = 0\n", "http.concurrency", "integer"),
        ("[bogus]\nx = 1\n", "bogus", "unknown section"),
        ("auth = 3\n", "auth", "must be a table"),
        ("mongo = 3\n", "mongo", "must be a table"),
    ],
)
def test_each_bad_field_is_named(extra: str, field: str, message: str) -> None:
    text = extra + MINIMAL if not extra.startswith("[") else MINIMAL + extra
    with pytest.raises(ProfileError) as error:
        parse_profile(text, env={})
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("[service]\nname = 'x'\nbase_url = 'localhost:8000'\n", "service.base_url", "http(s) URL"),
        ("[service]\nname = 'x'\nbase_url = 'http://:80'\n", "service.base_url", "http(s) URL"),
        ("[service]\nname = 'x'\n", "service.base_url", "is required"),
        ("[service]\nbase_url = 'http://a'\n", "service.name", "is required"),
        ("[auth]\nusername = 'a'\n", "service", "section is required"),
        ("[service\n", "profile", "invalid TOML"),
    ],
)
def test_the_service_section_is_required_and_checked(text: str, field: str, message: str) -> None:
    with pytest.raises(ProfileError) as error:
        parse_profile(text, env={})
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ") and message in str(error.value)


def test_an_empty_environment_variable_is_refused() -> None:
    with pytest.raises(ProfileError, match=r"auth.password_env: environment variable PW is empty"):
        parse_profile(MINIMAL + "[auth]\npassword_env = 'PW'\n", env={"PW": ""})


def test_a_missing_file_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"^profile: cannot read"):
        load_profile(tmp_path / "nope.toml", env={})
