"""The CLI contract, through `python manage.py preflight check` in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _preflight(tmp_path: Path, profile: str, *args: str, env: dict[str, str] | None = None):
    path = tmp_path / "profile.toml"
    path.write_text(profile)
    return subprocess.run(
        [sys.executable, "manage.py", "preflight", "check", "--profile", str(path), *args],
        cwd=ROOT,
        env={
            **os.environ,
            "PREFLIGHT_ENV": "test",
            "PREFLIGHT_VAR_DIR": str(tmp_path),
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def _profile(ref) -> str:
    return (
        f'[service]\nname = "orders"\nbase_url = "{ref.base_url}"\n'
        f'[auth]\nusername = "probe"\npassword_env = "PF_PW"\notp_secret_env = "PF_OTP"\n'
    )


def test_all_http_checks_pass_against_the_healthy_reference_service(tmp_path, reference_service):
    ref = reference_service
    done = _preflight(
        tmp_path,
        _profile(ref),
        "--steps",
        "smoke,functional,http",
        "--json",
        env={"PF_PW": ref.password, "PF_OTP": ref.otp_secret},
    )
    doc = json.loads(done.stdout)
    assert set(doc) == {"service", "results"} and doc["service"] == "orders"
    statuses = {r["key"]: r["status"] for r in doc["results"]}
    assert len(statuses) == 17
    assert statuses.pop("security.tls") == "skip"
    assert set(statuses.values()) == {"pass"}, doc
    for result in doc["results"]:
        assert set(result) == {"key", "status", "summary", "duration_ms", "evidence"}
    assert done.returncode == 0
    assert ref.password not in done.stdout


def test_a_failing_check_exits_1(tmp_path, reference_service_factory):
    ref = reference_service_factory(flaws=["cors_wildcard"])
    done = _preflight(
        tmp_path,
        _profile(ref),
        "--only",
        "security.cors,smoke.health",
        "--json",
        env={"PF_PW": ref.password, "PF_OTP": ref.otp_secret},
    )
    statuses = {r["key"]: r["status"] for r in json.loads(done.stdout)["results"]}
    assert statuses == {"smoke.health": "pass", "security.cors": "fail"}
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("profile", "args", "message"),
    [
        ('[service]\nname = "x"\n', [], "service.base_url"),
        (
            '[service]\nname = "x"\nbase_url = "http://127.0.0.1:9"\n',
            ["--only", "nope.key"],
            "nope.key",
        ),
        (
            '[service]\nname = "x"\nbase_url = "http://127.0.0.1:9"\n'
            '[auth]\npassword_env = "UNSET_PW_VAR"\n',
            [],
            "UNSET_PW_VAR",
        ),
    ],
)
def test_an_invalid_profile_or_selection_exits_2_naming_the_problem(
    tmp_path, profile, args, message
):
    done = _preflight(tmp_path, profile, *args, "--json")
    assert done.returncode == 2
    assert message in done.stderr


def test_only_errors_exit_3(tmp_path):
    done = _preflight(
        tmp_path,
        '[service]\nname = "x"\nbase_url = "http://127.0.0.1:9"\n',
        "--only",
        "smoke.health",
        "--json",
    )
    assert done.returncode == 3
    assert json.loads(done.stdout)["results"][0]["status"] == "error"


def test_a_disallowed_destination_is_an_error_not_a_verdict(tmp_path):
    done = _preflight(
        tmp_path,
        '[service]\nname = "x"\nbase_url = "http://169.254.169.254"\n',
        "--only",
        "smoke.health",
        "--json",
    )
    result = json.loads(done.stdout)["results"][0]
    assert (done.returncode, result["status"]) == (3, "error")
    assert "169.254.169.254" in result["summary"]


def test_manage_py_preflight_imports_no_django_and_only_the_checks_it_runs(
    tmp_path, reference_service
):
    """The fast path (checks/cli.py): the modules the real process had loaded when it exited
    hold no Django, portal, reviews or dashboards, and no check module the selection cannot
    use."""
    ref = reference_service
    path, modules = tmp_path / "profile.toml", tmp_path / "modules.json"
    path.write_text(_profile(ref))
    argv = ["manage.py", "preflight", "check", "--profile", str(path), "--json"]
    argv += ["--only", "smoke.health,security.rate_limit"]
    code = (
        "import json, os, runpy, sys\n"
        f"dump = lambda: open({str(modules)!r}, 'w').write(json.dumps(list(sys.modules)))\n"
        # manage.py leaves by os._exit once the verdict is out (no atexit): dump on the way.
        "leave = os._exit\n"
        "os._exit = lambda status: (dump(), leave(status))\n"
        f"sys.argv = {argv!r}\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "PREFLIGHT_ENV": "test",
            "PF_PW": ref.password,
            "PF_OTP": ref.otp_secret,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    statuses = {r["key"]: r["status"] for r in json.loads(done.stdout)["results"]}
    assert statuses == {"smoke.health": "pass", "security.rate_limit": "pass"}
    imported = set(json.loads(modules.read_text()))
    assert {"checks.catalog.smoke", "checks.catalog.security", "httpx"} <= imported
    roots = {name.split(".")[0] for name in imported}
    assert not roots & {"django", "celery", "portal", "reviews", "dashboards", "app", "core"}
    # httpx's own command-line client and what it pulls in (installed with the test extras)
    assert not roots & {"click", "rich", "pygments"}
    assert not imported & {
        "pymongo",
        "detect_secrets",
        "checks.catalog.db",
        "checks.catalog.repo",
        "checks.catalog.load",
        "checks.catalog.alerts",
        "checks.engine.hooks",
        "checks.engine.discover",
    }


def test_the_cli_allows_what_the_portal_allows_under_the_same_environment(settings):
    from checks.engine.policy_env import policy_from_env

    policy = policy_from_env(os.environ)
    assert list(policy.allow) == settings.PREFLIGHT_OUTBOUND_ALLOWLIST
    assert policy.allow_local_repos == settings.PREFLIGHT_ALLOW_LOCAL_REPOS
    production = policy_from_env({"PREFLIGHT_ENV": "production"})
    assert (list(production.allow), production.allow_local_repos) == ([], False)


def test_an_unusable_policy_variable_exits_2_naming_it(tmp_path):
    done = _preflight(
        tmp_path,
        '[service]\nname = "x"\nbase_url = "http://127.0.0.1:9"\n',
        "--json",
        env={"PREFLIGHT_ALLOW_LOCAL_REPOS": "maybe"},
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert "PREFLIGHT_ALLOW_LOCAL_REPOS" in done.stderr
