"""Real git repositories for the repository checks: one compliant, and one per flaw.

``make_repo(path, flaw=...)`` writes the compliant tree, applies the flaw (files replaced or
deleted), and commits it with the real ``git`` binary. The committed AWS-style key is built
at run time, so this source file holds nothing a secret scanner would flag.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
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


# --- realistic repositories: what a real FastAPI service commits -----------------------------
#
# Each noise file holds something a plain detect-secrets run flags (tests/catalog/test_repo.py
# proves it by widening the scan), yet none of it is a committed credential: placeholders,
# test fixtures, documentation examples, lock-file hashes, Alembic revision ids, audited
# baseline entries and pragma'd lines. Real-shaped secrets are made up at run time.

_B64 = string.ascii_letters + string.digits + "+/"


def _random(alphabet: str, size: int) -> str:
    rng = random.Random()
    return "".join(rng.choice(alphabet) for _ in range(size))


def fake_private_key() -> str:
    """A PEM block of the RSA private-key shape with a random (meaningless) body."""
    label = "RSA " + "PRIVATE" + " KEY"
    body = "\n".join(_random(_B64, 64) for _ in range(12))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def fake_github_token() -> str:
    return "gh" + "p_" + _random(string.ascii_letters + string.digits, 36)


def fake_jwt() -> str:
    def part(size: int) -> str:
        return _random(string.ascii_letters + string.digits + "-_", size)

    return f"eyJ{part(33)}.eyJ{part(60)}.{part(43)}"


def realistic_noise() -> dict[str, str]:
    """Files that look like secrets to a naive scan and are not (see the note above)."""
    maps_key = _random(_B64, 40)
    vendored = _random(_B64, 44)
    pem = "-----BEGIN RSA " + "PRIVATE KEY-----"
    return {
        ".env.example": (
            "PROJECT_NAME=orders\nSECRET_KEY=changethis\nFIRST_SUPERUSER_PASSWORD=changethis\n"
            "POSTGRES_PASSWORD=changethis\n"
            "DATABASE_URL=postgresql://postgres:postgres@localhost:5432/orders\n"
            "MONGO_URI=mongodb://orders:${MONGO_PASSWORD}@mongo:27017/orders\n"
            "SMTP_PASSWORD=<your-smtp-password>\nAWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
        ),
        "app/core/config.py": (
            "from pydantic_settings import BaseSettings\n\n\n"
            "class Settings(BaseSettings):\n"
            '    SECRET_KEY: str = "changethis"\n'
            '    FIRST_SUPERUSER_PASSWORD: str = "CHANGE_ME"\n'
            '    SMTP_PASSWORD: str = "<your-smtp-password>"\n'
            '    MONGO_URI: str = "mongodb://orders:${MONGO_PASSWORD}@mongo:27017/orders"\n'
            '    STRIPE_API_KEY: str = "sk_test_example"\n'
            '    JWT_SECRET = "replace-me-in-production"\n'
        ),
        "app/core/security.py": (
            "import hmac\n\n"
            f'PEM_HEADER = "{pem}"\n'
            "# RFC 7519 test vector, reviewed\n"
            f'JWT_TEST_VECTOR = "{fake_jwt()}"  # pragma: allowlist secret\n'
            "# pragma: allowlist nextline secret\n"
            f'HMAC_TEST_KEY = "{_random("0123456789abcdef", 32)}"\n\n\n'
            "def is_pem(text: str) -> bool:\n    return text.startswith(PEM_HEADER)\n"
        ),
        "app/integrations/maps.py": f'MAPS_BROWSER_KEY = "{maps_key}"  # public, referrer-locked\n',
        "vendor/legacy_sdk.py": f'SIGNING_SALT = "{vendored}"\n',
        "alembic.ini": "[alembic]\nsqlalchemy.url = driver://user:pass@localhost/dbname\n",
        "app/alembic/versions/ae1027a6acf_init.py": (
            '"""init\n\nRevision ID: ae1027a6acf\nRevises: 1a31ce608336\n'
            'Create Date: 2024-03-01 10:00:00\n"""\n'
            'revision = "ae1027a6acf"\ndown_revision = "1a31ce608336"\n'
            "branch_labels = None\ndepends_on = None\n"
        ),
        "tests/conftest.py": (
            f'TEST_PASSWORD = "Sup3r-Secret-Pa55"\nADMIN_TOKEN = "{fake_github_token()}"\n'
        ),
        "tests/fixtures/users.json": (
            '{"email": "ada@example.com", "password": "hunter2-fixture-pw", '
            f'"token": "{fake_jwt()}"}}\n'
        ),
        "docs/deployment.md": (
            "# Deploying\n\n```sh\n"
            f"export GITHUB_TOKEN={fake_github_token()}\n"
            f'curl -H "Authorization: Bearer {fake_jwt()}" https://orders.example/api\n```\n'
        ),
        "pnpm-lock.yaml": (
            "lockfileVersion: '9.0'\npackages:\n  left-pad@1.3.0:\n"
            f"    resolution: {{integrity: sha512-{_random(_B64, 86)}==}}\n"
            f'    secret: "{_random(_B64, 40)}"\n'
        ),
        "deploy/preflight.toml": (
            '[service]\nname = "orders"\nbase_url = "https://orders.staging.internal"\n'
            '[auth]\nusername = "probe"\npassword_env = "PW"\n'
            'otp_secret_env = "ORDERS_OTP_SECRET"\n'
        ),
        "docker-compose.yml": (
            "services:\n  db:\n    image: postgres:16\n    environment:\n"
            "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it}\n"
            "  mongo:\n    image: mongo:7\n    environment:\n"
            "      MONGO_INITDB_ROOT_PASSWORD: example\n"
        ),
    }


def detect_secrets_baseline(root: Path, files: list[str], *, real: set[str]) -> str:
    """A .secrets.baseline made by the real detect-secrets (``scan`` over ``files``, vendor/
    excluded), then audited: entries in ``real`` files are marked real, the others not."""
    done = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "--exclude-files", "^vendor/", *files],
        cwd=root,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(done.stdout)
    assert set(data["results"]) == set(files), data["results"]  # each file had a candidate
    for name, entries in data["results"].items():
        for entry in entries:
            entry["is_secret"] = name in real
    return json.dumps(data, indent=2) + "\n"


REALISTIC_CI: dict[str, str] = {
    ".github/workflows/ci.yml": """\
name: ci
on: [push, pull_request]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./.github/actions/setup-python
      - run: make lint
      - uses: pre-commit/action@v3.0.1
  test:
    runs-on: ubuntu-latest
    defaults:
      run:
        working-directory: backend
    steps:
      - uses: actions/checkout@v4
      - run: uv sync --frozen
      - run: uv run bash scripts/tests-start.sh "Coverage for ${{ github.sha }}"
        env:
          CODECOV_TOKEN: ${{ secrets.CODECOV_TOKEN }}
          JWT_SECRET: ci-only-jwt-secret
  audit:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pipx run tox -e audit
""",
    ".github/actions/setup-python/action.yml": """\
name: setup
runs:
  using: composite
  steps:
    - run: pip install uv
      shell: bash
""",
    "Makefile": """\
MYPY ?= mypy --strict
SRC = app

.PHONY: lint ruff typecheck
lint: ruff typecheck

ruff:
\truff check $(SRC)

typecheck:
\t$(MYPY) $(SRC)
""",
    ".pre-commit-config.yaml": """\
repos:
  - repo: https://github.com/Yelp/detect-secrets
    rev: v1.5.0
    hooks:
      - id: detect-secrets
        args: ["--baseline", ".secrets.baseline"]
  - repo: https://github.com/PyCQA/bandit
    rev: 1.7.9
    hooks:
      - id: bandit
        args: ["-c", "pyproject.toml"]
""",
    "tox.ini": """\
[tox]
env_list = py312, audit

[testenv]
commands = pytest {posargs}

[testenv:audit]
skip_install = true
deps = pip-audit
commands = pip-audit -r requirements.txt
""",
    "backend/scripts/tests-start.sh": """\
#! /usr/bin/env bash
set -e
set -x

python app/tests_pre_start.py

bash scripts/test.sh "$@"
""",
    "backend/scripts/test.sh": """\
#!/usr/bin/env bash

set -e
set -x

coverage run -m pytest tests/
coverage report
coverage html --title "${@-coverage}"
""",
    "backend/app/tests_pre_start.py": "import logging\n\nlogging.info('db is up')\n",
}


def realistic_repo(root: Path, *, leaks: bool = False) -> tuple[Path, list[tuple[str, int, str]]]:
    """A compliant service with realistic noise (and, with ``leaks``, real credentials among
    it). Returns the repository and the real findings expected, most serious first."""
    files: dict[str, str | bytes | None] = {**realistic_noise(), **REALISTIC_CI}
    expected: list[tuple[str, int, str]] = []
    if leaks:
        password = _random(string.ascii_letters + string.digits, 14)
        files |= {
            "deploy/tls/server.key": fake_private_key(),
            "app/aws.py": f'"""AWS."""\n\nAWS_ACCESS_KEY_ID = "{fake_aws_key_id()}"\n',
            "app/db.py": (
                f'MONGO_URI = "mongodb://orders:{password}@mongo.prod.internal:27017/orders"\n'
            ),
            "app/notify.py": f'import os\n\nGITHUB_TOKEN = "{fake_github_token()}"\n',
            "app/mail.py": f'SMTP_HOST = "smtp.internal"\nSMTP_PASSWORD = "{password}x"\n',
        }
        expected = [
            ("deploy/tls/server.key", 1, "Private Key"),
            ("app/aws.py", 3, "AWS Access Key"),
            ("app/db.py", 1, "Basic Auth Credentials"),
            ("app/notify.py", 3, "GitHub Token"),
            ("app/mail.py", 2, "Secret Keyword"),
        ]
    make_repo(root, files=files)
    # The team ran detect-secrets and audited: the maps key is a false positive; the token
    # (when there is one) was marked real, so it still counts.
    audited = ["app/integrations/maps.py", *(["app/notify.py"] if leaks else [])]
    baseline = detect_secrets_baseline(root, audited, real={"app/notify.py"})
    write_and_commit(root, {".secrets.baseline": baseline}, "detect-secrets baseline")
    return root, expected


def workflow(*steps: str) -> str:
    """A GitHub Actions workflow whose one job runs ``steps`` (first step at line 7)."""
    lines = "".join(f"      - run: {step}\n" for step in steps)
    return f"name: ci\non: [push]\njobs:\n  check:\n    runs-on: ubuntu-latest\n    steps:\n{lines}"


# CI that reaches its gates through what it calls: name -> (files, expected verdict)
GATE_VARIANTS: dict[str, tuple[dict[str, str | bytes | None], str]] = {
    "python_script": (
        {
            ".github/workflows/ci.yml": workflow("./scripts/ci.sh"),
            "scripts/ci.sh": (
                "#!/bin/sh\nset -eu\n# lint first\nruff check .\nmypy app\n"
                "bandit -r app && pip-audit\npython scripts/run_tests.py\n"
            ),
            "scripts/run_tests.py": (
                "import subprocess\nimport sys\n\nsubprocess.run(\n"
                '    [sys.executable, "-m", "pytest", "--cov=app", "--cov-fail-under=85"],\n'
                "    check=True,\n)\n"
            ),
        },
        "pass",
    ),
    "tox_factors": (
        {
            ".github/workflows/ci.yml": workflow("python -m tox -e py312-cov,lint"),
            "tox.ini": (
                "[tox]\nenv_list = py312-{cov,nocov}, lint\n\n[testenv]\ncommands =\n"
                "    cov: pytest --cov=app {posargs}\n    !cov: pytest {posargs}\n\n"
                "[testenv:lint]\ncommands =\n    ruff check .\n    mypy app\n"
                "    bandit -r app\n    pip-audit\n"
            ),
        },
        "pass",
    ),
    "tox_env_without_coverage": (
        {
            ".github/workflows/ci.yml": workflow("tox -e py312-nocov,lint"),
            "tox.ini": (
                "[tox]\nenv_list = py312-{cov,nocov}, lint\n\n[testenv]\ncommands =\n"
                "    cov: pytest --cov=app {posargs}\n    !cov: pytest {posargs}\n\n"
                "[testenv:lint]\ncommands =\n    ruff check .\n    mypy app\n"
                "    bandit -r app\n    pip-audit\n"
            ),
        },
        "fail",
    ),
    "nox_default_sessions": (
        {
            ".github/workflows/ci.yml": workflow("pipx run nox"),
            "noxfile.py": (
                "import nox\n\nnox.options.sessions = ['tests', 'lint']\n\n\n"
                "@nox.session(python=['3.12'])\ndef tests(session):\n"
                "    session.install('pytest-cov')\n"
                "    session.run('pytest', '--cov=app', *session.posargs)\n\n\n"
                "@nox.session\ndef lint(session):\n    session.run('ruff', 'check', '.')\n"
                "    session.run('mypy', 'app')\n\n\n"
                "@nox.session(name='security')\ndef security_checks(session):\n"
                "    session.run('bandit', '-r', 'app')\n    session.run('pip-audit')\n"
            ),
        },
        "fail",
    ),
    "hatch_scripts": (
        {
            ".github/workflows/ci.yml": workflow(
                "hatch run cov", "hatch run lint:check", "hatch run lint:audit"
            ),
            "pyproject.toml": (
                '[project]\nname = "orders"\nversion = "1"\n\n'
                "[tool.hatch.envs.default.scripts]\n"
                'test = "pytest {args:tests}"\n'
                'cov = ["test --cov=app --cov-report=term", "coverage report"]\n\n'
                "[tool.hatch.envs.lint.scripts]\n"
                'check = ["ruff check .", "mypy app", "bandit -r app"]\n'
                'audit = "pip-audit"\n'
            ),
        },
        "pass",
    ),
    "hatch_test_without_coverage": (
        {
            ".github/workflows/ci.yml": workflow(
                "hatch run test", "hatch run lint:check", "hatch run lint:audit"
            ),
            "pyproject.toml": (
                '[project]\nname = "orders"\nversion = "1"\n\n'
                "[tool.hatch.envs.default.scripts]\n"
                'test = "pytest {args:tests}"\n'
                'cov = ["test --cov=app --cov-report=term", "coverage report"]\n\n'
                "[tool.hatch.envs.lint.scripts]\n"
                'check = ["ruff check .", "mypy app", "bandit -r app"]\n'
                'audit = "pip-audit"\n'
            ),
        },
        "fail",
    ),
    "pdm_scripts": (
        {
            ".github/workflows/ci.yml": workflow("pdm run ci"),
            "pyproject.toml": (
                '[project]\nname = "orders"\nversion = "1"\n\n[tool.pdm.scripts]\n'
                'test = "pytest"\nlint = {composite = ["ruff check .", "mypy app"]}\n'
                'security = {shell = "bandit -r app && pip-audit"}\n'
                'ci = {composite = ["lint", "security", "test --cov=app"]}\n'
            ),
        },
        "pass",
    ),
    "poetry_poe_tasks": (
        {
            ".github/workflows/ci.yml": workflow("poetry install", "poetry run poe check"),
            "pyproject.toml": (
                '[tool.poetry]\nname = "orders"\n\n[tool.poetry.scripts]\n'
                'orders = "app.main:run"\n\n[tool.poe.tasks]\n'
                'test = "pytest"\nlint = "ruff check ."\ntypes = "mypy app"\n'
                'check.sequence = ["lint", "types", "test --cov=app", {cmd = "bandit -r app"},'
                ' {shell = "pip-audit"}]\n'
            ),
        },
        "pass",
    ),
    "pre_commit_local_hooks": (
        {
            ".github/workflows/ci.yml": workflow(
                "pre-commit run --all-files --show-diff-on-failure"
            ),
            ".pre-commit-config.yaml": (
                "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n"
                "    rev: v0.6.0\n    hooks:\n      - id: ruff\n        args: [--fix]\n"
                "  - repo: local\n    hooks:\n"
                "      - id: types\n        name: types\n        entry: mypy app\n"
                "        language: system\n"
                "      - id: checks\n        name: checks\n        entry: ./scripts/checks.sh\n"
                "        language: script\n"
            ),
            "scripts/checks.sh": "#!/bin/sh\nbandit -r app\npip-audit\npytest\n",
            "setup.cfg": "[tool:pytest]\naddopts = --cov=app --cov-report=term-missing\n",
        },
        "pass",
    ),
    "npm_and_uv": (
        {
            ".github/workflows/ci.yml": workflow(
                "cd web && npm ci && npm run check", "uv run --frozen pytest --cov=app"
            ),
            "web/package.json": (
                '{\n  "name": "web",\n  "scripts": {\n'
                '    "check": "npm run lint && npm audit --omit=dev",\n'
                '    "lint": "eslint . && tsc --noEmit",\n'
                '    "prelint": "semgrep --config auto ."\n  }\n}\n'
            ),
        },
        "pass",
    ),
    "make_directory_and_variables": (
        {
            ".github/workflows/ci.yml": workflow(
                "make -C backend check", "bash -c 'cd backend && make audit'"
            ),
            "backend/Makefile": (
                "PYTEST_FLAGS ?= --cov=app\nPYTEST = $(PYTHON) -m pytest $(PYTEST_FLAGS)\n"
                "check: lint\n\t$(PYTEST)\n# type checks come last\n\tmypy app\n\n"
                "lint:\n\truff check .\n\tbandit -r app\naudit:\n\tpip-audit\n"
            ),
        },
        "pass",
    ),
    "tox_toml_native": (
        {
            ".github/workflows/ci.yml": workflow("tox run -e lint,py"),
            "tox.toml": (
                'env_list = ["py", "lint"]\n\n[env_run_base]\n'
                'commands = [["pytest", "--cov=app", "{posargs}"]]\n\n[env.lint]\n'
                'commands = [["ruff", "check"], ["mypy", "app"], ["bandit", "-r", "app"], '
                '["pip-audit"]]\n'
            ),
        },
        "pass",
    ),
    "jenkins_steps": (
        {
            ".github/workflows/ci.yml": None,
            "Jenkinsfile": (
                "pipeline {\n  agent any\n  stages {\n    stage('check') {\n"
                "      steps { sh 'make test' }\n"
                "      steps { sh(script: \"bash -c 'ruff check . && mypy app'\") }\n"
                '      steps {\n        sh """\n          bandit -r app\n          pip-audit\n'
                '        """\n      }\n    }\n  }\n}\n'
            ),
            "Makefile": "test:\n\tpytest --cov=app\n",
        },
        "pass",
    ),
    "scripts_that_call_each_other": (
        {
            ".github/workflows/ci.yml": workflow("make ci"),
            "Makefile": "ci:\n\t./scripts/a.sh\n\nloop: ci\n\t$(MAKE) loop\n",
            "scripts/a.sh": "#!/bin/sh\nruff check . && mypy app\nbash scripts/b.sh\n",
            "scripts/b.sh": "#!/bin/sh\nbandit -r app\npip-audit\nmake loop\nsh scripts/a.sh\n",
        },
        "fail",
    ),
}
