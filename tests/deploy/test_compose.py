"""docker-compose.yml, parsed with PyYAML (merge keys resolved): the services, their wiring
and the absence of secret literals. No Docker engine runs here."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.files import (
    COMPOSE,
    ENV_EXAMPLE,
    ROOT,
    STRICT_REFERENCE,
    is_secret_name,
    literal_secret,
    load_yaml,
    resolve_defaults,
)

PORTAL = ("migrate", "web", "worker", "beat")
REFERENCE = ("ref-healthy", "ref-flawed")
REQUIRED = ("postgres", "redis", *PORTAL, *REFERENCE, "prometheus", "alertmanager")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def test_every_required_service_is_there(services: dict[str, dict[str, Any]]) -> None:
    missing = [name for name in REQUIRED if name not in services]
    assert not missing, missing


def test_portal_and_reference_services_share_one_image(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {services[name]["image"] for name in (*PORTAL, *REFERENCE)}
    assert len(images) == 1, images
    image = resolve_defaults(images.pop())
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), image
    assert not image.endswith(":latest")
    for name in (*PORTAL, *REFERENCE):
        assert services[name]["build"]["context"] == "."


def test_postgres_and_redis_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert "ping" in redis["healthcheck"]["test"]


def test_portal_processes_wait_for_healthy_dependencies(
    services: dict[str, dict[str, Any]],
) -> None:
    migrate = services["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    script = " ".join(command(migrate))
    assert "manage.py migrate" in script and "manage.py import_template" in script
    assert script.index("migrate --noinput") < script.index("import_template")
    for name in ("web", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name


def test_commands(services: dict[str, dict[str, Any]]) -> None:
    assert command(services["web"]) == ["web"]  # the image's gunicorn entrypoint
    assert command(services["worker"])[:4] == ["celery", "-A", "app", "worker"]
    assert "--queues=${CELERY_QUEUES:-celery,celery-sweep}" in command(services["worker"])
    beat = command(services["beat"])
    assert beat[:4] == ["celery", "-A", "app", "beat"]
    assert "--scheduler=django_celery_beat.schedulers:DatabaseScheduler" in beat
    for name in REFERENCE:
        assert command(services[name])[:3] == ["python", "-m", "examples.reference_service"]
    assert "--flaw" not in command(services["ref-healthy"])
    flawed = command(services["ref-flawed"])
    flaws = {flawed[i + 1] for i, part in enumerate(flawed) if part == "--flaw"}
    assert flaws == {"cors_wildcard", "no_rate_limit", "offset_pagination"}


def test_flaw_names_exist_in_the_reference_service(services: dict[str, dict[str, Any]]) -> None:
    from examples.reference_service.config import FLAWS

    flawed = command(services["ref-flawed"])
    assert {flawed[i + 1] for i, p in enumerate(flawed) if p == "--flaw"} <= FLAWS.keys()


def test_healthchecks_fit_each_process(services: dict[str, dict[str, Any]]) -> None:
    assert services["web"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "/app/deploy/healthcheck.py",
    ]
    # The image's HEALTHCHECK probes HTTP; processes without a server must not inherit it.
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    assert services["beat"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}
    for name in REFERENCE:
        assert environment(services[name])["PORT"] == "8001"
        assert "8001" in command(services[name])


def test_configuration_comes_from_env_file(services: dict[str, dict[str, Any]]) -> None:
    for name in PORTAL:
        env_file = services[name]["env_file"]
        assert env_file in (".env", [".env"]), name
        env = environment(services[name])
        assert env["PREFLIGHT_ENV"] == "production"
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert "@postgres:5432/" in env["DATABASE_URL"]
        # Prometheus and Alertmanager reach the web container as `web`.
        assert "web" in env["DJANGO_ALLOWED_HOSTS"].split(",")
    # The reference services get their own secrets only, not the portal's .env.
    for name in REFERENCE:
        assert "env_file" not in services[name]
        assert set(environment(services[name])) >= {"REF_PROBE_PASSWORD", "REF_OTP_SECRET"}


def _all_values(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every scalar in the file with the key path that leads to it."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _all_values(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [pair for i, v in enumerate(node) for pair in _all_values(v, f"{path}[{i}]")]
    return [(path, "" if node is None else str(node))]


def test_no_secret_literals(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, service in services.items():
        for key, value in environment(service).items():
            problem = literal_secret(key, value)
            if problem:
                problems.append(f"{name}: {problem}")
    # Anywhere else in the file (commands, healthchecks, ...): no URL with a literal password.
    for path, value in _all_values(compose):
        problem = literal_secret("value", value)
        if problem:
            problems.append(f"{path}: {problem}")
    assert not problems, problems
    # Secrets that tools read from files come from .env variables, not from files in the repo.
    for secret in compose["secrets"].values():
        assert set(secret) == {"environment"}, secret


def test_the_checker_catches_literals() -> None:
    """The rules the test above relies on, on values that must be refused."""
    assert literal_secret("POSTGRES_PASSWORD", "hunter2")
    assert literal_secret("DJANGO_SECRET_KEY", "${DJANGO_SECRET_KEY:-insecure-default}")
    assert literal_secret("DATABASE_URL", "postgres://u:pw@db:5432/x")  # pragma: allowlist secret
    assert not literal_secret("DATABASE_URL", "postgres://u:${PW:?set PW}@db:5432/x")
    assert not literal_secret("REF_DRILL_TOKEN", "${REF_DRILL_TOKEN}")
    assert not literal_secret("LOG_LEVEL", "INFO")


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    compose = load_yaml(COMPOSE)
    values = " ".join(value for _, value in _all_values(compose))
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", values))
    used |= {str(s["environment"]) for s in compose["secrets"].values()}
    assert {"POSTGRES_PASSWORD", "PREFLIGHT_ALERTMANAGER_TOKEN", "REF_PROBE_PASSWORD"} <= used
    documented = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert not used - documented, sorted(used - documented)
    # .env.example holds no secret values either: placeholders are empty.
    for line in ENV_EXAMPLE.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            if is_secret_name(name):
                assert value == "" or STRICT_REFERENCE.fullmatch(value), line


def test_prometheus_and_alertmanager_mount_the_repository_config(
    services: dict[str, dict[str, Any]],
) -> None:
    prom = services["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    am = services["alertmanager"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in am["volumes"]
    assert "alertmanager_token" in am["secrets"]
    for service in (prom, am):
        for volume in service["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).is_dir(), source
