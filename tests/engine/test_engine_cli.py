"""The CLI contract: JSON shape and exit codes, against a real loopback server."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from checks.engine.cli import main
from checks.engine.http import DestinationPolicy
from checks.engine.outcome import MissingSetting, Verdict, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

from .conftest import App


def health(t: Target) -> Verdict:
    response = t.http.get(t.url(t.profile.paths.health))
    if response.status_code == 200:
        return passed("/health answered 200", status=200)
    return failed(f"/health answered {response.status_code}", status=response.status_code)


def broken(t: Target) -> Verdict:
    response = t.http.get(t.url("/status/500"))
    return failed(f"answered {response.status_code}", status=response.status_code)


def unreachable(t: Target) -> Verdict:
    t.http.get("http://169.254.169.254/latest/meta-data/")
    return passed("never")


def needs_mongo(t: Target) -> Verdict:
    raise MissingSetting("mongo.uri")


def spec(key: str, run: object, step: str = "smoke") -> CheckSpec:
    return CheckSpec(key=key, step=step, title=key, run=run)  # type: ignore[arg-type]


REGISTRY: Mapping[str, CheckSpec] = {
    "smoke.health": spec("smoke.health", health),
    "api.error_format": spec("api.error_format", broken, "http"),
    "security.tls": spec("security.tls", unreachable, "http"),
    "db.index_usage": spec("db.index_usage", needs_mongo, "db"),
}
POLICY = DestinationPolicy(["127.0.0.1"])


@pytest.fixture
def profile(tmp_path: Path, app: App) -> Path:
    path = tmp_path / "orders.toml"
    path.write_text(f'[service]\nname = "orders"\nbase_url = "{app.url}"\n')
    return path


def run(*argv: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, registry=REGISTRY, policy=POLICY, stdout=out, stderr=err, env=env or {})
    return code, out.getvalue(), err.getvalue()


def test_a_passing_run_prints_the_json_document_and_exits_0(profile: Path) -> None:
    code, out, err = run("check", "--profile", str(profile), "--only", "smoke.health", "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["service"] == "orders"
    [result] = document["results"]
    assert set(result) == {"key", "status", "summary", "duration_ms", "evidence"}
    assert (result["key"], result["status"], result["evidence"]) == (
        "smoke.health",
        "pass",
        {"status": 200},
    )
    assert isinstance(result["duration_ms"], int)


def test_a_failure_exits_1_and_results_follow_registry_order(profile: Path) -> None:
    code, out, _ = run("check", "--profile", str(profile), "--json")
    assert code == 1
    statuses = [(r["key"], r["status"]) for r in json.loads(out)["results"]]
    assert statuses == [
        ("smoke.health", "pass"),
        ("api.error_format", "fail"),
        ("security.tls", "error"),
        ("db.index_usage", "skip"),
    ]


def test_errors_without_failures_exit_3(profile: Path) -> None:
    code, out, _ = run(
        "check", "--profile", str(profile), "--only", "smoke.health,security.tls", "--json"
    )
    assert code == 3
    assert "destination refused" in json.loads(out)["results"][1]["summary"]


def test_only_skips_means_nothing_could_run_and_exits_2(profile: Path) -> None:
    code, out, err = run("check", "--profile", str(profile), "--steps", "db", "--json")
    assert code == 2
    assert json.loads(out)["results"][0]["summary"] == "missing setting mongo.uri"
    assert "nothing could run" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "smoke.nope"], "unknown check key: smoke.nope"),
        (["--steps", "smoky"], "unknown step: smoky"),
        (["--steps", "rollout"], "nothing to run"),
    ],
)
def test_unknown_keys_steps_and_empty_selections_exit_2(
    profile: Path, args: list[str], message: str
) -> None:
    code, out, err = run("check", "--profile", str(profile), *args, "--json")
    assert (code, out) == (2, "")
    assert message in err


def test_an_invalid_profile_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[service]\nname = "x"\nbase_url = "http://a"\n[auth]\npassword_env = "ORDERS_PW"\n'
    )
    code, out, err = run("check", "--profile", str(path), "--json")
    assert (code, out) == (2, "")
    assert err == "profile error: auth.password_env: environment variable ORDERS_PW is not set\n"


def test_usage_errors_exit_2_on_our_stderr() -> None:
    code, out, err = run("check", "--json")
    assert (code, out) == (2, "")
    assert "--profile" in err


def test_without_json_it_prints_a_table(profile: Path) -> None:
    code, out, _ = run("check", "--profile", str(profile), "--only", "smoke.health")
    assert code == 0
    assert out.startswith("service: orders\n")
    assert "smoke.health" in out and "/health answered 200" in out


def test_verbose_reports_each_start_and_end_and_why_a_check_runs_alone(profile: Path) -> None:
    registry = {
        **REGISTRY,
        "load.target_rps": CheckSpec(
            key="load.target_rps",
            step="nonfunctional",
            title="alone",
            run=health,
            isolated_because="drives the service hard",
        ),
    }
    out, err = io.StringIO(), io.StringIO()
    argv = ["check", "--profile", str(profile), "--only", "smoke.health,load.target_rps"]
    code = main(
        [*argv, "--json", "--verbose"],
        registry=registry,
        policy=POLICY,
        stdout=out,
        stderr=err,
        env={},
    )
    assert code == 0
    lines = err.getvalue().splitlines()
    assert [line.split("] ", 1)[1].split(" (at ")[0] for line in lines] == [
        "start smoke.health",
        "end   smoke.health: pass in " + lines[1].split(" in ")[1].split(" (at")[0],
        "start load.target_rps; runs alone: drives the service hard",
        "end   load.target_rps: pass in " + lines[3].split(" in ")[1].split(" (at")[0],
    ]
    results = {r["key"]: r for r in json.loads(out.getvalue())["results"]}
    assert results["load.target_rps"]["evidence"]["isolated_because"] == "drives the service hard"
    assert "isolated_because" not in results["smoke.health"]["evidence"]


def test_a_registry_loader_is_asked_for_the_selection_only(profile: Path) -> None:
    asked: list[tuple[object, object]] = []

    def loader(only: object, steps: object) -> Mapping[str, CheckSpec]:
        asked.append((only, steps))
        return {"smoke.health": REGISTRY["smoke.health"]}

    out, err = io.StringIO(), io.StringIO()
    argv = ["check", "--profile", str(profile), "--only", "smoke.health", "--steps", "smoke"]
    code = main([*argv, "--json"], registry=loader, policy=POLICY, stdout=out, stderr=err, env={})
    assert code == 0 and asked == [(["smoke.health"], ["smoke"])]
