"""The registry itself: the public keys, their runbook steps, isolation, and no Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from checks.catalog import MODULES, REGISTRY, registry_for
from checks.engine.registry import KINDS, UnknownCheck, select_specs

SMOKE = {"smoke.health", "smoke.ping_db", "smoke.crud_cycle"}
FUNCTIONAL = {
    "api.cursor_pagination",
    "security.rate_limit",
    "auth.jwt_flow",
    "auth.otp_flow",
}
HTTP = {
    "security.cors",
    "security.tls",
    "security.headers",
    "security.request_limits",
    "api.error_format",
    "api.openapi",
    "api.deprecation",
    "reliability.idempotency",
    "observability.request_id",
    "observability.metrics",
}
DB = {"db.index_usage", "db.compound_index_sort", "db.ttl_indexes", "db.write_concern"}
NONFUNCTIONAL = {
    "load.target_rps",
    "load.cache_hit_ratio",
    "chaos.redis_outage",
    "chaos.db_readiness",
}
DRILLS = NONFUNCTIONAL | {"alerts.error_drill", "rollout.canary_drill"}
REPO = {
    "repo.dockerfile_multistage",
    "repo.dockerfile_nonroot",
    "repo.dockerfile_healthcheck",
    "repo.env_config",
    "repo.no_secrets",
    "repo.infra_as_code",
    "repo.quality_gates",
}


def test_it_registers_exactly_the_catalog_keys_under_their_own_names() -> None:
    assert set(REGISTRY) == SMOKE | FUNCTIONAL | HTTP | DB | REPO | DRILLS
    assert all(spec.key == key for key, spec in REGISTRY.items())


def test_each_check_belongs_to_its_runbook_step() -> None:
    steps = {key: spec.step for key, spec in REGISTRY.items()}
    assert {k for k, s in steps.items() if s == "smoke"} == SMOKE
    assert {k for k, s in steps.items() if s == "functional"} == FUNCTIONAL
    assert {k for k, s in steps.items() if s == "http"} == HTTP
    assert {k for k, s in steps.items() if s == "db"} == DB
    assert {k for k, s in steps.items() if s == "repo"} == REPO
    assert {k for k, s in steps.items() if s == "nonfunctional"} == NONFUNCTIONAL
    assert [k for k, s in steps.items() if s in ("observability", "rollout")] == [
        "alerts.error_drill",
        "rollout.canary_drill",
    ]


def test_each_check_has_the_kind_of_what_it_exercises() -> None:
    kinds = {key: spec.kind for key, spec in REGISTRY.items()}
    assert set(kinds.values()) <= set(KINDS)
    assert {k for k, kind in kinds.items() if kind == "drill"} == DRILLS
    assert {k for k, kind in kinds.items() if kind == "db"} == DB
    assert {k for k, kind in kinds.items() if kind == "repo"} == REPO
    assert {k for k, kind in kinds.items() if kind == "http"} == SMOKE | FUNCTIONAL | HTTP


def test_only_the_drills_run_alone_and_each_says_why() -> None:
    isolated = {k: spec.isolated_because for k, spec in REGISTRY.items() if spec.isolated}
    assert set(isolated) == DRILLS
    assert all(len(reason) > 20 for reason in isolated.values()), isolated
    # Its bursts spend only a throwaway username's and its own session's budgets.
    assert not REGISTRY["security.rate_limit"].isolated


def test_each_key_lives_in_the_module_named_before_its_dot_with_the_steps_listed() -> None:
    modules = {name: steps for name, _kind, steps in MODULES}
    for key, spec in REGISTRY.items():
        module = spec.run.__module__.removeprefix("checks.catalog.").split(".")[0]
        assert key.partition(".")[0] == module, key
        assert spec.step in modules[module], key
    for name, steps in modules.items():
        assert steps == {s.step for s in REGISTRY.values() if s.key.startswith(name + ".")}


@pytest.mark.parametrize(
    ("only", "steps"),
    [
        (None, None),
        (None, ["smoke", "functional", "http"]),
        (None, ["functional"]),
        (None, ["db", "rollout"]),
        (["security.rate_limit", "smoke.health"], None),
        (["security.rate_limit", "smoke.health", "api.openapi"], ["http"]),
        (["repo.no_secrets"], ["repo", "smoke"]),
        (["load.target_rps"], ["smoke"]),
    ],
)
def test_the_narrowed_registry_selects_exactly_what_the_full_one_does(
    only: list[str] | None, steps: list[str] | None
) -> None:
    narrowed = select_specs(registry_for(only, steps), only=only, steps=steps)
    assert narrowed == select_specs(REGISTRY, only=only, steps=steps)


def test_a_key_of_an_unknown_module_or_an_unknown_key_is_refused_by_name() -> None:
    for key in ("nosuch.check", "smoke.nosuch"):
        with pytest.raises(UnknownCheck, match=key):
            select_specs(registry_for([key], None), only=[key])


def test_the_http_checks_load_no_database_repository_or_drill_module() -> None:
    code = (
        "import sys, checks.catalog as c; c.registry_for(None, ['smoke','functional','http']); "
        "heavy = [m for m in ('pymongo', 'detect_secrets', 'checks.catalog.repo', "
        "'checks.catalog.load', 'checks.engine.hooks', 'django') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_catalog_never_imports_django() -> None:
    code = (
        "import sys, checks.catalog; checks.catalog.REGISTRY; "
        "assert 'django' not in sys.modules, 'django imported'"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr
