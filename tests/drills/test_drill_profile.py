"""The drill sections of a profile: typed, validated, secrets kept out of reprs."""

from __future__ import annotations

import pytest

from checks.engine.profile import ProfileError, parse_profile

BASE = '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:9"\n'


def parse(extra: str, env: dict[str, str] | None = None):
    return parse_profile(BASE + extra, env=env or {})


def test_it_defaults_every_drill_section() -> None:
    profile = parse("")
    assert profile.load.target_rps is None and profile.load.duration_s == 20
    assert profile.hooks.actions == {}
    assert profile.alerts.matchers == {} and profile.rollout.canary_weight == 10


def test_the_reference_preset_fills_every_hook_with_the_token() -> None:
    profile = parse(
        '[hooks]\npreset = "reference"\ntoken_env = "T"\n[rollout]\ncanary_weight = 5\n',
        {"T": "s3cret"},
    )
    assert set(profile.hooks.actions) == {
        "redis_down",
        "redis_up",
        "db_down",
        "db_up",
        "errors_on",
        "errors_off",
        "canary",
        "rollback",
    }
    canary = profile.hooks.action("canary")
    assert canary.headers == {"Authorization": "Bearer s3cret"}
    assert canary.json == {"canary_version": "canary", "weight": 5}
    assert "s3cret" not in repr(profile) and "s3cret" not in str(profile.redacted())


def test_explicit_hooks_replace_the_preset_and_read_headers_from_the_environment() -> None:
    profile = parse(
        '[hooks]\npreset = "reference"\ntoken = "t"\n'
        '[hooks.db_down]\nmethod = "put"\nurl = "https://chaos.example/db"\n'
        'headers_env = { "X-Key" = "K" }\njson = { target = "db" }\n',
        {"K": "key-value"},
    )
    action = profile.hooks.action("db_down")
    assert (action.method, action.url, action.json) == (
        "PUT",
        "https://chaos.example/db",
        {"target": "db"},
    )
    assert action.headers == {"X-Key": "key-value"}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (
            '[hooks]\n[hooks.redis_down]\nurl = "/x"\nheaders = { A = "Bearer ${token}" }\n',
            "hooks.redis_down.headers.A",
        ),
        ('[hooks]\n[hooks.nuke]\nurl = "/x"\n', "hooks.nuke"),
        ('[hooks]\n[hooks.db_up]\nurl = "ftp://x/y"\n', "hooks.db_up.url"),
        ('[hooks]\n[hooks.db_up]\nmethod = "TRACE"\nurl = "/y"\n', "hooks.db_up.method"),
        ('[hooks]\npreset = "other"\n', "hooks.preset"),
        ('[hooks]\ntoken = "a"\ntoken_env = "B"\n', "hooks.token"),
        ('[hooks]\ntoken_env = "UNSET"\n', "hooks.token_env"),
        ("[load]\ntarget_rps = 0\n", "load.target_rps"),
        ("[load]\ntolerance = 2\n", "load.tolerance"),
        ("[load]\nusers = 0\n", "load.users"),
        ("[load]\nrps = 3\n", "load.rps"),
        ("[alerts]\nmatchers = { service = 1 }\n", "alerts.matchers.service"),
        ("[rollout]\ncanary_weight = 100\n", "rollout.canary_weight"),
        ("[rollout]\nsample_size = 5\n", "rollout.sample_size"),
    ],
)
def test_it_refuses_bad_drill_settings_naming_the_field(extra: str, field: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse(extra)
    assert caught.value.field == field


def test_load_alert_and_rollout_settings_parse() -> None:
    profile = parse(
        "[load]\ntarget_rps = 50\np95_ms = 250\nusers = 8\nworkers = 2\nmaster_bind_port = 6000\n"
        'master_bind_host = "10.0.0.5"\nmax_error_rate = 0\n'
        '[alerts]\nmatchers = { team = "payments" }\ndeadline_s = 60\n'
        '[rollout]\ncanary_version = "2.0.0"\nmax_error_rate = 0.05\nwindow_s = 3\n'
    )
    assert (profile.load.target_rps, profile.load.users, profile.load.workers) == (50, 8, 2)
    assert profile.load.max_error_rate == 0 and profile.load.master_bind_port == 6000
    assert profile.alerts.matchers == {"team": "payments"} and profile.alerts.deadline_s == 60
    assert profile.rollout.canary_version == "2.0.0" and profile.rollout.window_s == 3
