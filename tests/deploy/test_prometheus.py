"""Prometheus and Alertmanager configuration: parsed, cross-checked against compose and the
reference service's real /metrics, and validated by promtool / amtool when installed
(Debian packages `prometheus` and `prometheus-alertmanager`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.files import ALERTMANAGER, COMPOSE, PROMETHEUS, load_yaml
from tests.support.refservice import RunningReferenceService

CONTAINER_SECRETS = "/run/secrets/"
needs_promtool = pytest.mark.skipif(
    not shutil.which("promtool"),
    reason="promtool not installed (Debian package `prometheus`): config not validated by it",
)
needs_amtool = pytest.mark.skipif(
    not shutil.which("amtool"),
    reason="amtool not installed (Debian package `prometheus-alertmanager`)",
)


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return load_yaml(PROMETHEUS / "prometheus.yml")


@pytest.fixture(scope="module")
def alertmanager() -> dict[str, Any]:
    return load_yaml(ALERTMANAGER / "alertmanager.yml")


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    files = sorted((PROMETHEUS / "rules").glob("*.yml"))
    assert files
    return [rule for f in files for group in load_yaml(f)["groups"] for rule in group["rules"]]


def _targets(prometheus: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (job, metrics path)"""
    return {
        target: (job["job_name"], job.get("metrics_path", "/metrics"))
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }


def test_scrapes_the_portal_and_both_reference_services(prometheus: dict[str, Any]) -> None:
    targets = _targets(prometheus)
    assert targets["web:8000"][1] == "/metrics"
    assert targets["ref-healthy:8001"][1] == "/metrics"
    assert targets["ref-flawed:8001"][1] == "/metrics"
    services = load_yaml(COMPOSE)["services"]
    for target in targets:
        host = target.split(":")[0]
        assert host == "localhost" or host in services, f"{target}: no such compose service"
    am_targets = [
        t
        for a in prometheus["alerting"]["alertmanagers"]
        for s in a["static_configs"]
        for t in s["targets"]
    ]
    assert am_targets == ["alertmanager:9093"]


def test_error_rate_alert_uses_the_reference_service_metrics(
    rules: list[dict[str, Any]], reference_service: RunningReferenceService
) -> None:
    alert = next(r for r in rules if r.get("alert") == "HighErrorRate")
    assert "http_errors_total" in alert["expr"] and "http_requests_total" in alert["expr"]
    assert alert["labels"]["severity"]
    # The names the rule uses are the ones a real reference service exposes.
    with reference_service.client() as client:
        client.get("/health")
        body = client.get("/metrics").text
    names = {line.split("{")[0].split()[0] for line in body.splitlines() if line and line[0] != "#"}
    assert {"http_errors_total", "http_requests_total"} <= names


def test_alertmanager_posts_to_the_portal_webhook_with_a_bearer_file(
    alertmanager: dict[str, Any],
) -> None:
    receivers = {r["name"]: r for r in alertmanager["receivers"]}
    default = receivers[alertmanager["route"]["receiver"]]
    (hook,) = default["webhook_configs"]
    assert hook["url"] == "http://web:8000/hooks/alertmanager"
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    assert "credentials" not in auth  # a literal token; it must come from the file
    # The file is the compose secret holding PREFLIGHT_ALERTMANAGER_TOKEN.
    compose = load_yaml(COMPOSE)
    secret = auth["credentials_file"].removeprefix(CONTAINER_SECRETS)
    assert secret in compose["services"]["alertmanager"]["secrets"]
    assert compose["secrets"][secret] == {"environment": "PREFLIGHT_ALERTMANAGER_TOKEN"}


def _config_copy(tmp_path: Path) -> Path:
    """deploy/prometheus with the container's /run/secrets files pointing at empty temp files
    (promtool insists that credential files exist)."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    config = copy / "prometheus.yml"
    text = config.read_text()
    for line in text.splitlines():
        if CONTAINER_SECRETS in line:
            (secrets / line.split(CONTAINER_SECRETS, 1)[1].strip()).write_text("")
    config.write_text(text.replace(CONTAINER_SECRETS, f"{secrets}/"))
    return config


@needs_promtool
def test_promtool_checks_the_config_and_its_rules(tmp_path: Path) -> None:
    out = subprocess.run(
        ["promtool", "check", "config", str(_config_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rule files found" in out.stdout + out.stderr


@needs_promtool
def test_promtool_unit_tests_of_the_alert_rules() -> None:
    """tests/deploy/alert_rules_test.yml: 10% errors fire HighErrorRate after its `for`,
    1% does not; a silent target raises TargetDown."""
    out = subprocess.run(
        ["promtool", "test", "rules", "alert_rules_test.yml"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(http_errors_total[\n"
    )
    out = subprocess.run(
        ["promtool", "check", "rules", str(broken)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode != 0


@needs_amtool
def test_amtool_checks_the_alertmanager_config() -> None:
    out = subprocess.run(
        ["amtool", "check-config", str(ALERTMANAGER / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout
