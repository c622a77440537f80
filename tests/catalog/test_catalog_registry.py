"""The registry itself: the public keys, their runbook steps, isolation, and no Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from checks.catalog import REGISTRY
from checks.engine.registry import KINDS

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


def test_only_the_rate_limit_probe_and_the_drills_run_isolated() -> None:
    isolated = [k for k, spec in REGISTRY.items() if spec.isolated]
    assert set(isolated) == {"security.rate_limit"} | DRILLS


def test_the_catalog_never_imports_django() -> None:
    code = "import sys, checks.catalog; assert 'django' not in sys.modules, 'django imported'"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr
