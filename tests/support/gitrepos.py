"""Real git repositories for the repository checks: one compliant, and one per flaw.

``make_repo(path, flaw=...)`` writes the compliant tree, applies the flaw (files replaced or
deleted), and commits it with the real ``git`` binary. The committed AWS-style key is built
at run time, so this source file holds nothing a secret scanner would flag.
"""

from __future__ import annotations

import os
import random
import string
import subprocess
from pathlib import Path

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "LC_ALL": "C",
}

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM python:3.12 AS build
WORKDIR /src
COPY requirements.txt .
RUN pip install --prefix=/install -r requirements.txt

FROM python:3.12-slim
COPY --from=build /install /usr/local
COPY app /app
ENV PORT=8000 \\
    SECRET_KEY_FILE=/run/secrets/django_key
USER 10001
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health')"
CMD ["python", "-m", "app"]
"""

CI = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt
      - name: lint
        run: ruff check .
      - run: mypy app
      - run: bandit -r app
      - run: pip-audit -r requirements.txt
      - name: tests
        run: |
          pytest --cov=app \\
            --cov-fail-under=85
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
spec:
  replicas: 2
"""

COMPLIANT: dict[str, str] = {
    "Dockerfile": DOCKERFILE,
    ".env.example": "DATABASE_URL=\nAPI_TOKEN=\n",
    ".gitignore": ".env\n",
    "requirements.txt": "fastapi==0.115.0\n",
    "app/__init__.py": "",
    "app/__main__.py": (
        "import os\n\nPORT = int(os.environ.get('PORT', '8000'))\n"
        "DATABASE_URL = os.environ['DATABASE_URL']\n"
    ),
    "deploy/k8s/deployment.yaml": DEPLOYMENT,
    ".github/workflows/ci.yml": CI,
    "README.md": "# orders\n",
}


def fake_aws_key_id() -> str:
    """An access key id of the AWS shape, made up now (never a literal in the repo)."""
    rng = random.Random()
    return "AK" + "IA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def _single_stage() -> str:
    return DOCKERFILE.split("\n\n", 1)[1].replace("COPY --from=build /install /usr/local\n", "")


# flaw -> files to replace (None deletes); the key the flaw must fail
FLAWS: dict[str, tuple[str, dict[str, str | None]]] = {
    "single_stage": ("repo.dockerfile_multistage", {"Dockerfile": _single_stage()}),
    "full_base": (
        "repo.dockerfile_multistage",
        {"Dockerfile": DOCKERFILE.replace("FROM python:3.12-slim", "FROM python:3.12")},
    ),
    "no_user": ("repo.dockerfile_nonroot", {"Dockerfile": DOCKERFILE.replace("USER 10001\n", "")}),
    "root_user": (
        "repo.dockerfile_nonroot",
        {"Dockerfile": DOCKERFILE.replace("USER 10001", "USER root")},
    ),
    "no_healthcheck": (
        "repo.dockerfile_healthcheck",
        {"Dockerfile": DOCKERFILE.replace(DOCKERFILE.splitlines(True)[12], "")},
    ),
    "tracked_env": ("repo.env_config", {".env": "DEBUG=1\n", ".gitignore": "*.pyc\n"}),
    "no_env_example": ("repo.env_config", {".env.example": None}),
    "dockerfile_secret": (
        "repo.env_config",
        {"Dockerfile": DOCKERFILE.replace("ENV PORT=8000", "ENV API_TOKEN=s3cr3t-value PORT=8000")},
    ),
    "aws_key": ("repo.no_secrets", {}),  # filled in by make_repo (built at run time)
    "no_infra": ("repo.infra_as_code", {"deploy/k8s/deployment.yaml": None}),
    "ci_no_type_checker": (
        "repo.quality_gates",
        {".github/workflows/ci.yml": CI.replace("      - run: mypy app\n", "")},
    ),
    "no_ci": ("repo.quality_gates", {".github/workflows/ci.yml": None}),
}
# Lines the evidence must point at, per flaw: (file, line)
FLAW_LOCATIONS: dict[str, tuple[str, int | None]] = {
    "single_stage": ("Dockerfile", 1),
    "full_base": ("Dockerfile", 7),
    "no_user": ("Dockerfile", 7),
    "root_user": ("Dockerfile", 12),
    "no_healthcheck": ("Dockerfile", 7),
    "tracked_env": (".env", 1),
    "no_env_example": (".env.example", None),
    "dockerfile_secret": ("Dockerfile", 10),
    "aws_key": ("app/settings.py", 3),
    "no_infra": ("deploy/", None),
    "ci_no_type_checker": (".github/workflows/ci.yml", 7),
    "no_ci": (".github/workflows/", None),
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout


def write_and_commit(root: Path, files: dict[str, str | bytes | None], message: str) -> str:
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", message, cwd=root)
    return git("rev-parse", "HEAD", cwd=root).strip()


def make_repo(
    root: Path,
    *,
    flaw: str | None = None,
    files: dict[str, str | bytes | None] | None = None,
) -> Path:
    """A committed repository at ``root``: compliant, with ``flaw`` applied, then ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=root)
    tree: dict[str, str | bytes | None] = dict(COMPLIANT)
    if flaw is not None:
        tree.update(FLAWS[flaw][1])
        if flaw == "aws_key":
            tree["app/settings.py"] = (
                f'"""Settings."""\n\nAWS_ACCESS_KEY_ID = "{fake_aws_key_id()}"\n'
            )
    tree.update(files or {})
    write_and_commit(root, tree, f"initial ({flaw or 'compliant'})")
    return root
