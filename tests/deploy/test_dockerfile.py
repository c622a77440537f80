"""The Dockerfile and .dockerignore, parsed with dockerfile-parse (no Docker engine here).

The one build step that runs Django (collectstatic) is also executed, as written in the
Dockerfile, with --dry-run: it proves the image builds its static files in production mode
from the throwaway keys alone.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.files import APP_UID, DOCKERFILE, DOCKERIGNORE, ROOT, is_secret_name

BUILD_ONLY_VAR_DIR = "/tmp/preflight-build"


@pytest.fixture(scope="module")
def parser() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


def stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    """Instructions grouped by stage (each starts with FROM); comments dropped."""
    result: list[list[dict[str, Any]]] = []
    for item in parser.structure:
        if item["instruction"] == "COMMENT":
            continue
        if item["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(item)
    return result


def final_stage(parser: DockerfileParser) -> list[dict[str, Any]]:
    return stages(parser)[-1]


def instructions(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == name]


def test_multi_stage_with_a_slim_pinned_final_base(parser: DockerfileParser) -> None:
    all_stages = stages(parser)
    assert len(all_stages) >= 2
    assert parser.is_multistage
    final_from = instructions(final_stage(parser), "FROM")[0].split()[0]
    assert final_from == parser.baseimage
    name, _, tag = final_from.partition(":")
    assert name == "python"
    assert "slim" in tag and tag.startswith("3.11"), final_from
    # Pinned: a tag (not latest) on every stage.
    for image in parser.parent_images:
        assert ":" in image and not image.endswith(":latest"), image


def test_final_stage_copies_only_the_venv_from_the_builder(parser: DockerfileParser) -> None:
    builder_name = instructions(stages(parser)[0], "FROM")[0].split()[-1]
    copies = instructions(final_stage(parser), "COPY")
    from_builder = [c for c in copies if c.startswith("--from=")]
    assert from_builder == [f"--from={builder_name} /opt/venv /opt/venv"]
    # Dependencies come from pyproject.toml's pinned list, not the test extras.
    builder_runs = " ".join(instructions(stages(parser)[0], "RUN"))
    assert "['project']['dependencies']" in builder_runs
    assert "optional-dependencies" not in builder_runs


def test_final_stage_runs_as_a_numeric_non_root_user(parser: DockerfileParser) -> None:
    users = instructions(final_stage(parser), "USER")
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"USER {users[-1]!r}: numeric, so runAsNonRoot can verify it"
    assert int(user) == APP_UID != 0
    # The user is created with that UID before the switch.
    runs = " ".join(instructions(final_stage(parser), "RUN"))
    assert f"--uid {APP_UID}" in runs


def test_healthcheck_calls_health_with_python(parser: DockerfileParser) -> None:
    checks = instructions(final_stage(parser), "HEALTHCHECK")
    assert len(checks) == 1
    command = checks[0].split("CMD", 1)[1].strip()
    assert json.loads(command) == ["python", "/app/deploy/healthcheck.py"]
    assert "--interval=" in checks[0] and "--timeout=" in checks[0]
    assert '"/health"' in (ROOT / "deploy" / "healthcheck.py").read_text()


def test_web_by_default_worker_and_beat_by_command(parser: DockerfileParser) -> None:
    stage = final_stage(parser)
    assert json.loads(instructions(stage, "ENTRYPOINT")[-1]) == ["/app/deploy/entrypoint.sh"]
    assert json.loads(instructions(stage, "CMD")[-1]) == ["web"]
    assert instructions(stage, "EXPOSE") == ["8000"]
    entrypoint = (ROOT / "deploy" / "entrypoint.sh").read_text()
    assert "exec gunicorn app.wsgi:application" in entrypoint
    for flag in ("--bind", "--workers", "--access-logfile -"):
        assert flag in entrypoint
    # Anything that is not `web` runs as given (celery -A app worker|beat, manage.py, ...).
    assert entrypoint.rstrip().endswith('exec "$@"')


def test_labels(parser: DockerfileParser) -> None:
    labels = parser.labels
    for key in ("title", "version", "source", "revision"):
        assert labels.get(f"org.opencontainers.image.{key}"), key


def test_no_secret_in_env_or_arg(parser: DockerfileParser) -> None:
    found: list[str] = []
    for stage in stages(parser):
        for item in stage:
            if item["instruction"] not in {"ENV", "ARG"}:
                continue
            for pair in item["value"].split():
                name, _, value = pair.partition("=")
                if is_secret_name(name):
                    found.append(f"{item['instruction']} {name}={value}")
    assert not found, found
    assert parser.envs.get("PREFLIGHT_ENV") == "production"
    # A literal that looks like a Django key or Fernet key would be in the text somewhere.
    text = DOCKERFILE.read_text()
    assert 'DJANGO_SECRET_KEY="$(python -c' in text  # generated at build, per command


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return (
        bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(pattern[1:], parts[1:])
    )


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rules: segments match like filepath.Match, `**` spans directories, a pattern
    that matches a directory excludes what is below it, `!` re-includes, the last match wins."""
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        segments = pattern.removeprefix("!").strip("/").split("/")
        if any(_match(segments, parts[:i]) for i in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = _dockerignore_patterns()
    for path in (
        ".env",
        ".env.production",
        "var/dev.env",
        "var/preflight.sqlite3",
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        ".pytest_cache/v",
        ".mypy_cache/x",
        ".ruff_cache/x",
        "portal/__pycache__/x.pyc",
        "staticfiles/x.css",
        ".coverage",
    ):
        assert _ignored(path, patterns), f"{path} would be sent to the build"
    # What the image needs stays in.
    for path in (
        "app/settings.py",
        "manage.py",
        "pyproject.toml",
        "checklists/fastapi-mongo/v3.toml",
        "templates/base.html",
        "static/css/site.css",
        "examples/reference_service/app.py",
        "deploy/entrypoint.sh",
        "deploy/healthcheck.py",
        "docs/profile.md",  # served at /docs/profile/
    ):
        assert not _ignored(path, patterns), f"{path} is needed in the image"


def test_env_file_is_never_copied(parser: DockerfileParser) -> None:
    for stage in stages(parser):
        for value in instructions(stage, "COPY") + instructions(stage, "ADD"):
            assert ".env" not in value.split(), value
    # COPY . /app relies on .dockerignore for .env: it must be there.
    assert ".env" in _dockerignore_patterns()


def test_collectstatic_build_step_needs_no_real_secret(
    parser: DockerfileParser, tmp_path: Path
) -> None:
    """Run the Dockerfile's collectstatic step as written (with --dry-run: nothing is written)
    in an environment holding no secret: the throwaway keys it generates are all it needs."""
    runs = [v for v in instructions(final_stage(parser), "RUN") if "collectstatic" in v]
    assert len(runs) == 1
    command = runs[0]
    assert "PREFLIGHT_ENV" not in command  # production comes from the image's ENV
    for name in ("DJANGO_SECRET_KEY", "PREFLIGHT_SECRET_KEYS", "PREFLIGHT_AUDIT_KEYS"):
        assert f'{name}="$(python -c' in command, f"{name} must be generated at build time"
    command = command.replace(BUILD_ONLY_VAR_DIR, str(tmp_path / "build"))
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        **{k: v for k, v in parser.envs.items() if k not in {"PATH", "PYTHONPATH"}},
    }
    env["PREFLIGHT_VAR_DIR"] = str(tmp_path / "var")
    assert env["PREFLIGHT_ENV"] == "production"
    assert not any(is_secret_name(name) for name in env)
    result = subprocess.run(
        ["sh", "-c", f"{command} --dry-run --verbosity 1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "static files copied" in result.stdout


def test_runtime_has_git_for_the_repository_checks(parser: DockerfileParser) -> None:
    runs = " ".join(instructions(final_stage(parser), "RUN"))
    assert "apt-get install -y --no-install-recommends git" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs  # no package index left in the layer
