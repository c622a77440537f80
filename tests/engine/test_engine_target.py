"""Target against a real loopback server: cached logins per scope, expiry, uncached login."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from checks.engine.http import DestinationPolicy, GuardedClient
from checks.engine.outcome import MissingSetting
from checks.engine.profile import parse_profile
from checks.engine.target import LoginFailed, Target

from .conftest import App


def make_target(
    app: App, auth: str = "username = 'probe'\npassword = 'pw'\n", **kw: object
) -> Target:
    profile = parse_profile(
        f"[service]\nname = 'orders'\nbase_url = '{app.url}'\n[auth]\n{auth}", env={}
    )
    return Target(profile, GuardedClient(DestinationPolicy(["127.0.0.1"])), **kw)  # type: ignore[arg-type]


def test_url_joins_base_url_and_path(app: App) -> None:
    target = make_target(app)
    assert target.url("/health") == f"{app.url}/health"
    assert target.url("health") == f"{app.url}/health"
    assert target.url("https://elsewhere.test/x") == "https://elsewhere.test/x"


def test_it_logs_in_once_per_scope_even_from_many_threads(app: App) -> None:
    target = make_target(app)
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: target.access_token("items:read"), range(16)))
    assert tokens == {"token-items:read-1"}
    assert target.auth_headers("items:write") == {"Authorization": "Bearer token-items:write-2"}
    assert target.access_token() == "token-None-3"
    assert app.state.logins[0] == {"username": "probe", "password": "pw", "scope": "items:read"}
    assert "scope" not in app.state.logins[2]
    assert len(app.state.logins) == 3


def test_an_expiring_token_is_renewed(app: App) -> None:
    now = [1000.0]
    app.state.expires_in = 60
    target = make_target(app, clock=lambda: now[0])
    assert target.access_token() == "token-None-1"
    now[0] += 20
    assert target.access_token() == "token-None-1"
    now[0] += 20  # within the renewal margin of the 60 s lifetime
    assert target.access_token() == "token-None-2"


def test_login_is_uncached_and_accepts_other_credentials(app: App) -> None:
    target = make_target(app)
    target.login(username="intruder", password="guess")
    target.login()
    assert [x["username"] for x in app.state.logins] == ["intruder", "probe"]


def test_missing_credentials_become_missing_settings(app: App) -> None:
    with pytest.raises(MissingSetting) as no_user:
        make_target(app, auth="").access_token()
    assert no_user.value.setting == "auth.username"
    with pytest.raises(MissingSetting) as no_password:
        make_target(app, auth="username = 'probe'\n").access_token()
    assert no_password.value.setting == "auth.password"
    assert app.state.logins == []


def test_a_refused_login_is_an_error_not_a_token(app: App) -> None:
    app.state.login_status = 401
    with pytest.raises(LoginFailed, match="answered 401"):
        make_target(app).access_token()
