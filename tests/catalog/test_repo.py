"""Repository checks against real git repositories cloned with the real git binary.

Nothing is mocked. To prove that a refused host starts no git process, ``git`` is reached
through a recording wrapper script placed first on PATH (it logs its argv, then runs the real
git), which is a spy on the real program, not a stand-in for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checks.catalog import REGISTRY
from checks.engine.http import DestinationPolicy
from checks.engine.outcome import Outcome, Status
from checks.engine.profile import ProfileError, parse_profile
from checks.engine.runner import run_checks
from checks.engine.target import Target, build_target
from tests.support.gitrepos import (
    FLAW_LOCATIONS,
    FLAWS,
    GATE_VARIANTS,
    fake_github_token,
    git,
    make_repo,
    realistic_repo,
    workflow,
    write_and_commit,
)

ROOT = Path(__file__).resolve().parents[2]
PREFLIGHT = [sys.executable, "manage.py", "preflight", "check"]
KEYS = [key for key, spec in REGISTRY.items() if spec.step == "repo"]
POLICY = DestinationPolicy(allow=["127.0.0.0/8", "localhost"], allow_local_repos=True)


def profile(repo_lines: str) -> str:
    return f'[service]\nname = "orders"\nbase_url = "http://127.0.0.1:1"\n[repo]\n{repo_lines}\n'


def run_repo(
    repo_lines: str, policy: DestinationPolicy = POLICY, keys: list[str] = KEYS
) -> dict[str, Outcome]:
    target = build_target(parse_profile(profile(repo_lines), env={}), policy)
    try:
        outcomes = run_checks(target, [REGISTRY[k] for k in keys])
    finally:
        target.close()
    return {o.key: o for o in outcomes}


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("repos")
    built = {"compliant": make_repo(base / "compliant")}
    for flaw in FLAWS:
        built[flaw] = make_repo(base / flaw, flaw=flaw)
    return built


@pytest.fixture
def git_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A recording ``git`` first on PATH; returns the log of every invocation."""
    real = shutil.which("git")
    assert real
    bindir, log = tmp_path / "bin", tmp_path / "git-calls.log"
    bindir.mkdir()
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    log.touch()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- verdicts ------------------------------------------------------------------------------


def test_compliant_repository_passes_every_check_via_file_url(repos: dict[str, Path]) -> None:
    results = run_repo(f'url = "{repos["compliant"].as_uri()}"')
    assert {k: o.status for k, o in results.items()} == dict.fromkeys(KEYS, Status.PASS)
    gates = results["repo.quality_gates"].evidence["found"]
    assert gates["type checker"].startswith(".github/workflows/ci.yml:11: mypy")
    assert gates["tests with coverage"].startswith(".github/workflows/ci.yml:16: pytest --cov")
    assert results["repo.infra_as_code"].evidence["found"] == {
        "kubernetes": ["deploy/k8s/deployment.yaml:1 (Deployment)"]
    }
    commit = git("rev-parse", "HEAD", cwd=repos["compliant"]).strip()
    assert results["repo.no_secrets"].evidence["repository"]["commit"] == commit


def test_compliant_repository_passes_via_local_path(repos: dict[str, Path], git_log: Path) -> None:
    results = run_repo(f'path = "{repos["compliant"]}"')
    assert all(o.status == Status.PASS for o in results.values()), results
    # seven checks, one clone
    assert git_log.read_text().count(" clone ") == 1


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_each_flaw_fails_its_key_with_file_and_line(repos: dict[str, Path], flaw: str) -> None:
    key = FLAWS[flaw][0]
    results = run_repo(f'url = "{repos[flaw].as_uri()}"')
    outcome = results[key]
    assert outcome.status == Status.FAIL, outcome
    file, line = FLAW_LOCATIONS[flaw]
    finding = outcome.evidence["findings"][0]
    assert (finding["file"], finding["line"]) == (file, line)
    assert finding["fix"]
    where = f"{file}:{line}" if line else file
    assert outcome.summary.startswith(where)
    others = {k: o.status for k, o in results.items() if k != key}
    assert others == dict.fromkeys(others, Status.PASS), results


def test_secret_value_never_reaches_the_evidence(repos: dict[str, Path]) -> None:
    committed = (repos["aws_key"] / "app/settings.py").read_text()
    key_id = re.search(r'"(AK[A-Z0-9]{18})"', committed)
    assert key_id
    outcome = run_repo(f'url = "{repos["aws_key"].as_uri()}"')["repo.no_secrets"]
    shown = json.dumps(outcome.as_dict())
    assert outcome.evidence["findings"][0]["type"] == "AWS Access Key"
    # not the key, nor any 6-character piece of its random part
    secret_part = key_id.group(1)[4:]
    assert not any(secret_part[i : i + 6] in shown for i in range(len(secret_part) - 5))


def test_other_ci_systems_make_targets_ruff_s_rules_and_iac_kinds(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "gitlab",
        files={
            ".github/workflows/ci.yml": None,
            "deploy/k8s/deployment.yaml": None,
            ".gitlab-ci.yml": "test:\n  script:\n    - make check\n    - pre-commit run -a\n",
            "Makefile": (
                "check: lint audit\n\tpytest\n\nlint:\n\truff check .\n\naudit:\n\tpip-audit\n"
            ),
            ".pre-commit-config.yaml": (
                "repos:\n  - repo: https://github.com/pre-commit/mirrors-mypy\n"
                "    rev: v1.0.0\n    hooks:\n      - id: mypy\n"
            ),
            "pyproject.toml": (
                '[tool.ruff.lint]\nselect = ["E", "S"]\n'
                '[tool.pytest.ini_options]\naddopts = "--cov=app"\n'
            ),
            "infra/main.tf": 'resource "null_resource" "x" {}\n',
            "infra/main.bicep": "param location string\n",
            "charts/orders/Chart.yaml": "apiVersion: v2\nname: orders\nversion: 0.1.0\n",
            "charts/orders/templates/deploy.yaml": "kind: {{ .Values.kind }}\n",
        },
    )
    results = run_repo(f'url = "{root.as_uri()}"')
    gates = results["repo.quality_gates"]
    assert gates.status == Status.PASS, gates
    assert gates.evidence["found"]["type checker"].startswith(
        ".pre-commit-config.yaml:5 (via .gitlab-ci.yml:4)"
    )
    assert gates.evidence["found"]["security linter"].startswith("Makefile:5 (via")
    assert gates.evidence["found"]["tests with coverage"].startswith("Makefile:2 (via")
    found = results["repo.infra_as_code"].evidence["found"]
    assert found == {
        "terraform": ["infra/main.tf"],
        "bicep": ["infra/main.bicep"],
        "helm": ["charts/orders"],
    }


def test_tests_without_coverage_and_plain_ruff_are_named(tmp_path: Path) -> None:
    ci = (
        "jobs:\n  build:\n    docker: [{image: cimg/python:3.12}]\n    steps:\n"
        "      - run: {name: lint, command: ruff check .}\n      - run: pytest -q\n"
    )
    root = make_repo(
        tmp_path / "circle",
        files={".github/workflows/ci.yml": None, ".circleci/config.yml": ci},
    )
    outcome = run_repo(f'url = "{root.as_uri()}"')["repo.quality_gates"]
    assert outcome.status == Status.FAIL
    problems = [f["problem"] for f in outcome.evidence["findings"]]
    assert problems[0] == "`.circleci/config.yml:6` runs `pytest -q` without coverage"
    assert any(p.startswith("CI runs no security linter") for p in problems)
    assert outcome.evidence["ci_files"] == [
        {"file": ".circleci/config.yml", "system": "CircleCI", "steps_from_line": 5}
    ]


def test_ref_selects_branch_tag_or_commit(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "refs")
    first = git("rev-parse", "HEAD", cwd=root).strip()
    git("tag", "v1", cwd=root)
    dockerfile = (root / "Dockerfile").read_text().replace("USER 10001", "USER root")
    git("checkout", "-q", "-b", "release", cwd=root)
    write_and_commit(root, {"Dockerfile": dockerfile}, "root again")
    url = root.as_uri()
    assert run_repo(f'url = "{url}"\nref = "release"')["repo.dockerfile_nonroot"].status == "fail"
    assert run_repo(f'url = "{url}"\nref = "v1"')["repo.dockerfile_nonroot"].status == "pass"
    by_commit = run_repo(f'url = "{url}"\nref = "{first}"')["repo.dockerfile_nonroot"]
    assert by_commit.status == "pass"
    assert by_commit.evidence["repository"]["commit"] == first
    missing = run_repo(f'url = "{url}"\nref = "nope"')["repo.env_config"]
    assert missing.status == Status.ERROR
    assert "git clone failed" in missing.summary


def test_subdir_and_dockerfile_settings(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "mono", files={"services/orders/docker/App.Dockerfile": "x"})
    (root / "services/orders/docker/App.Dockerfile").write_text(
        "FROM python:3.12 AS b\nFROM gcr.io/distroless/python3\nUSER 0:0\n"
    )
    write_and_commit(root, {}, "dockerfile")
    results = run_repo(
        f'url = "{root.as_uri()}"\nsubdir = "services/orders"\ndockerfile = "docker/App.Dockerfile"'
    )
    assert results["repo.dockerfile_multistage"].status == Status.PASS
    nonroot = results["repo.dockerfile_nonroot"]
    assert nonroot.status == Status.FAIL
    assert nonroot.summary.startswith("services/orders/docker/App.Dockerfile:3")
    gone = run_repo(f'url = "{root.as_uri()}"\nsubdir = "nowhere"')["repo.infra_as_code"]
    assert gone.status == Status.ERROR and "repo.subdir" in gone.summary
    missing = run_repo(f'url = "{root.as_uri()}"\ndockerfile = "nope/Dockerfile"')
    assert missing["repo.dockerfile_healthcheck"].status == Status.FAIL
    assert missing["repo.dockerfile_healthcheck"].summary == "no Dockerfile at nope/Dockerfile"


# --- errors, policy and limits -------------------------------------------------------------


def test_unreachable_git_url_is_an_error_not_a_failure(git_log: Path) -> None:
    results = run_repo(f'url = "http://127.0.0.1:{closed_port()}/x.git"\ntimeout_s = 20')
    assert {o.status for o in results.values()} == {Status.ERROR}
    assert "git clone failed" in results["repo.no_secrets"].summary
    assert git_log.read_text().count(" clone ") == 1


def test_disallowed_host_is_refused_before_git_runs(git_log: Path) -> None:
    results = run_repo('url = "https://169.254.169.254/latest/meta-data.git"')
    assert {o.status for o in results.values()} == {Status.ERROR}
    outcome = results["repo.dockerfile_nonroot"]
    assert outcome.summary.startswith("destination refused: 169.254.169.254")
    outside = run_repo('url = "git@github.com:acme/orders.git"')["repo.env_config"]
    assert outside.summary == "destination refused: github.com: hostname not in the allowlist"
    assert git_log.read_text() == ""


def test_local_repositories_need_the_policy(repos: dict[str, Path], git_log: Path) -> None:
    strict = DestinationPolicy(allow=["127.0.0.0/8"])
    for lines in (f'path = "{repos["compliant"]}"', f'url = "{repos["compliant"].as_uri()}"'):
        outcome = run_repo(lines, strict)["repo.no_secrets"]
        assert outcome.status == Status.ERROR
        assert outcome.summary.startswith("refused: local repositories are not allowed")
    assert git_log.read_text() == ""


def test_repository_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "huge", files={"data/blob.bin": os.urandom(1024 * 1024)})
    results = run_repo(f'url = "{root.as_uri()}"\nmax_bytes = 200_000')
    for outcome in results.values():
        assert outcome.status == Status.ERROR
        assert outcome.summary == "refused: larger than 0.19 MiB"
        assert outcome.evidence["max_bytes"] == 200_000


def test_clone_is_removed_when_the_run_closes(repos: dict[str, Path]) -> None:
    target: Target = build_target(
        parse_profile(profile(f'url = "{repos["compliant"].as_uri()}"'), env={}), POLICY
    )
    from checks.catalog.repo.clone import repo_of

    repo = repo_of(target)
    assert repo is repo_of(target)  # shared
    assert (repo.root / "Dockerfile").is_file()
    target.close()
    assert not repo.root.parent.exists()


def test_missing_repo_section_skips_naming_the_setting() -> None:
    text = '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:1"\n'
    target = build_target(parse_profile(text, env={}), POLICY)
    outcomes = run_checks(target, [REGISTRY[k] for k in KEYS])
    assert {(o.status, o.evidence["setting"]) for o in outcomes} == {(Status.SKIP, "repo.url")}


# --- profile -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ("", "repo.url"),
        ('url = "ftp://example.com/x.git"', "repo.url"),
        ('url = "https://user:pw@example.com/x.git"', "repo.url"),
        ('url = "https://example.com/x.git"\npath = "."', "repo.path"),
        ('path = "/definitely/not/here"', "repo.path"),
        ('url = "https://example.com/x.git"\nref = "--upload-pack=evil"', "repo.ref"),
        ('url = "https://example.com/x.git"\nref = "a..b"', "repo.ref"),
        ('url = "https://example.com/x.git"\nsubdir = "../etc"', "repo.subdir"),
        ('url = "https://example.com/x.git"\ndockerfile = "/etc/passwd"', "repo.dockerfile"),
        ('url = "https://example.com/x.git"\nmax_bytes = 10', "repo.max_bytes"),
        ('url = "https://example.com/x.git"\ntimeout_s = 0', "repo.timeout_s"),
        ('url = "https://example.com/x.git"\ntoken_env = "NOT_SET_ANYWHERE"', "repo.token_env"),
        ('url = "ssh://git@example.com/x.git"\ntoken = "t"', "repo.token"),
        ('url = "https://example.com/x.git"\nbranch = "main"', "repo.branch"),
        ('url = "https://example.com/x.git"\nsecrets_include = "tests"', "repo.secrets_include"),
        ('url = "https://example.com/x.git"\nsecrets_include = ["vendor"]', "repo.secrets_include"),
    ],
)
def test_bad_repo_fields_name_the_field(lines: str, field: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(profile(lines), env={})
    assert caught.value.field == field


def test_repo_token_is_never_shown(tmp_path: Path) -> None:
    secret = "tok-" + os.urandom(8).hex()
    parsed = parse_profile(
        profile(f'url = "https://127.0.0.1:{closed_port()}/x.git"\ntoken_env = "T"'),
        env={"T": secret},
    )
    assert parsed.repo.token == secret
    assert secret not in repr(parsed) and secret not in repr(parsed.repo)
    target = build_target(parsed, POLICY)
    outcomes = run_checks(target, [REGISTRY[k] for k in KEYS])
    target.close()
    assert {o.status for o in outcomes} == {Status.ERROR}
    assert secret not in json.dumps([o.as_dict() for o in outcomes])


# --- the CLI contract, in a real subprocess ------------------------------------------------


def _private_tmp(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir(exist_ok=True)
    return folder


def _cli(
    tmp_path: Path, repo: Path, extra: str = "", keys: list[str] = KEYS
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{repo.name}.toml"
    path.write_text(profile(f'url = "{repo.as_uri()}"\n{extra}'))
    return subprocess.run(
        [*PREFLIGHT, "--profile", str(path), "--only", ",".join(keys), "--json"],
        cwd=ROOT,
        env={
            **os.environ,
            "PREFLIGHT_ENV": "test",
            "PREFLIGHT_VAR_DIR": str(tmp_path),
            # clones go here, apart from other runs sharing /tmp
            "TMPDIR": str(_private_tmp(tmp_path)),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_passes_the_compliant_repo_and_fails_each_flaw(
    repos: dict[str, Path], tmp_path: Path
) -> None:
    done = _cli(tmp_path, repos["compliant"])
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [r["key"] for r in document["results"]] == KEYS
    assert {r["status"] for r in document["results"]} == {"pass"}
    for flaw, (key, _files) in FLAWS.items():
        done = _cli(tmp_path, repos[flaw])
        assert done.returncode == 1, (flaw, done.stderr)
        results = {r["key"]: r for r in json.loads(done.stdout)["results"]}
        assert results[key]["status"] == "fail"
        file, line = FLAW_LOCATIONS[flaw]
        finding = results[key]["evidence"]["findings"][0]
        assert (finding["file"], finding["line"]) == (file, line)
    assert not list(_private_tmp(tmp_path).glob("preflight-repo-*"))


# --- realistic repositories: no false alarm, every real finding ------------------------------


def _results(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in json.loads(done.stdout)["results"]}


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return realistic_repo(tmp_path_factory.mktemp("realistic") / "orders")[0]


def test_realistic_repository_raises_no_false_alarm(realistic: Path, tmp_path: Path) -> None:
    done = _cli(tmp_path, realistic)
    assert done.returncode == 0, done.stdout + done.stderr
    results = _results(done)
    assert {k: r["status"] for k, r in results.items()} == dict.fromkeys(KEYS, "pass")
    secrets = results["repo.no_secrets"]
    # every piece of noise was seen and set aside for its own reason
    assert secrets["evidence"]["left_out_files"] == {
        "tests": 1,
        "fixtures": 1,
        "docs": 2,
        "lock_files": 1,
        "baseline exclude pattern": 1,
    }
    assert secrets["evidence"]["dismissed"] == {
        "placeholder": 7,
        "migration revision id": 1,
        "audited in the baseline": 1,
        "names a variable": 2,
    }
    assert secrets["evidence"]["baseline"]["exclude_files"] == ["^vendor/"]
    assert secrets["summary"].endswith(
        "not scanned: 1 test, 1 fixture, 2 doc, 1 lock, 1 baseline-excluded files "
        "(repo.secrets_include scans them)"
    )
    found = results["repo.quality_gates"]["evidence"]["found"]
    # coverage runs two scripts deep, in the job's working-directory, through `uv run bash`
    assert found["tests with coverage"] == (
        "backend/scripts/test.sh:6 (via .github/workflows/ci.yml:19 → "
        "backend/scripts/tests-start.sh:7): coverage run -m pytest tests/"
    )
    assert (
        found["type checker"] == "Makefile:11 (via .github/workflows/ci.yml:9): mypy --strict app"
    )
    assert found["security linter"].startswith(".pre-commit-config.yaml:10 (via .github/workflows")
    assert found["dependency audit"].startswith("tox.ini:10 (via .github/workflows/ci.yml:27)")


def test_real_credentials_among_the_noise_are_found_most_serious_first(tmp_path: Path) -> None:
    root, expected = realistic_repo(tmp_path / "leaky", leaks=True)
    done = _cli(tmp_path, root)
    assert done.returncode == 1, done.stderr
    results = _results(done)
    outcome = results.pop("repo.no_secrets")
    assert {r["status"] for r in results.values()} == {"pass"}
    findings = outcome["evidence"]["findings"]
    assert [(f["file"], f["line"], f["type"]) for f in findings] == expected
    assert outcome["summary"] == (
        "deploy/tls/server.key:1: committed private key (Private Key) (+4 more)"
    )
    token = next(f for f in findings if f["type"] == "GitHub Token")
    assert token["problem"].endswith("marked a real secret in .secrets.baseline")
    values = [
        (root / "deploy/tls/server.key").read_text().splitlines()[1],
        *re.findall(r'"(AK[A-Z0-9]{18}|gh[p]_\w+)"', (root / "app/aws.py").read_text()),
        *re.findall(r'"(gh[p]_\w+)"', (root / "app/notify.py").read_text()),
        *re.findall(r"orders:(\w+)@", (root / "app/db.py").read_text()),
    ]
    assert len(values) == 4
    assert not any(value in done.stdout for value in values)


@pytest.mark.parametrize(
    ("include", "files"),
    [
        ('["tests", "fixtures"]', {"tests/conftest.py", "tests/fixtures/users.json"}),
        ('["migration_ids"]', {"app/alembic/versions/ae1027a6acf_init.py"}),
        ('["docs", "lock_files"]', {"docs/deployment.md", "pnpm-lock.yaml"}),
        (
            '["all"]',
            {
                *("tests/conftest.py", "tests/fixtures/users.json", "docs/deployment.md"),
                *("pnpm-lock.yaml", "app/alembic/versions/ae1027a6acf_init.py"),
            },
        ),
    ],
)
def test_secrets_include_widens_the_scan(realistic: Path, include: str, files: set[str]) -> None:
    lines = f'url = "{realistic.as_uri()}"\nsecrets_include = {include}'
    outcome = run_repo(lines, keys=["repo.no_secrets"])["repo.no_secrets"]
    assert outcome.status == Status.FAIL
    assert {f["file"] for f in outcome.evidence["findings"]} == files


def test_allowlist_pragmas_are_honoured(tmp_path: Path) -> None:
    code = (
        f'API_TOKEN = "{fake_github_token()}"  # pragma: allowlist secret\n'
        "# pragma: allowlist nextline secret\n"
        f'OTHER_TOKEN = "{fake_github_token()}"\n'
    )
    root = make_repo(tmp_path / "pragma", files={"app/clients.py": code})
    lines, keys = f'url = "{root.as_uri()}"', ["repo.no_secrets"]
    assert run_repo(lines, keys=keys)["repo.no_secrets"].status == Status.PASS
    bare = code.replace("  # pragma: allowlist secret", "").replace("pragma: allowlist ", "")
    write_and_commit(root, {"app/clients.py": bare}, "pragmas dropped")
    outcome = run_repo(lines, keys=keys)["repo.no_secrets"]
    assert [(f["file"], f["line"]) for f in outcome.evidence["findings"]] == [
        ("app/clients.py", 1),
        ("app/clients.py", 3),
    ]


def test_baseline_named_by_the_pre_commit_hook_and_a_broken_one(tmp_path: Path) -> None:
    hook = (
        "repos:\n  - repo: https://github.com/Yelp/detect-secrets\n    rev: v1.5.0\n"
        "    hooks:\n      - id: detect-secrets\n"
        "        args: ['--baseline', 'config/secrets.baseline']\n"
    )
    code = f'API_TOKEN = "{fake_github_token()}"\n'
    root = make_repo(
        tmp_path / "hooked", files={"app/clients.py": code, ".pre-commit-config.yaml": hook}
    )
    # straight from `detect-secrets scan`, not audited yet: known, so not a finding
    scanned = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "app/clients.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    write_and_commit(root, {"config/secrets.baseline": scanned}, "baseline")
    lines, keys = f'url = "{root.as_uri()}"', ["repo.no_secrets"]
    outcome = run_repo(lines, keys=keys)["repo.no_secrets"]
    assert outcome.status == Status.PASS, outcome
    assert outcome.evidence["baseline"]["file"] == "config/secrets.baseline"
    assert outcome.evidence["dismissed"] == {"audited in the baseline": 2}  # token + entropy
    write_and_commit(root, {"config/secrets.baseline": "{not json"}, "broken baseline")
    outcome = run_repo(lines, keys=keys)["repo.no_secrets"]
    assert outcome.status == Status.FAIL
    assert outcome.evidence["baseline"]["problem"].startswith("not a detect-secrets baseline")
    assert outcome.summary == "app/clients.py:1: committed token (GitHub Token)"


def test_make_target_without_coverage_is_pinned_to_the_makefile(tmp_path: Path) -> None:
    makefile = ".PHONY: lint test\nlint:\n\truff check .\n\tmypy app\n\tbandit -r app\n\n"
    makefile += "test:\n\tpytest -q tests/\n"
    ci = workflow("make lint", "make test", "pip-audit -r requirements.txt")
    root = make_repo(
        tmp_path / "make", files={".github/workflows/ci.yml": ci, "Makefile": makefile}
    )
    done = _cli(tmp_path, root, keys=["repo.quality_gates"])
    assert done.returncode == 1, done.stderr
    outcome = _results(done)["repo.quality_gates"]
    [finding] = outcome["evidence"]["findings"]
    problem = (
        "`.github/workflows/ci.yml:8` runs `make test` → Makefile target `test` (`Makefile:8`) "
        "runs `pytest -q tests/` without coverage"
    )
    assert finding["file"] == "Makefile" and finding["line"] == 8
    assert finding["type"] == "tests with coverage" and finding["problem"] == problem
    assert "--cov" in finding["fix"] and "Makefile:8" in finding["fix"]
    assert outcome["summary"] == f"Makefile:8: {problem}"
    # adding coverage where the finding points is what makes it pass
    fixed = makefile.replace("pytest -q tests/", "pytest -q --cov=app tests/")
    write_and_commit(root, {"Makefile": fixed}, "coverage")
    assert _cli(tmp_path, root, keys=["repo.quality_gates"]).returncode == 0


# variant -> (found gates and where, as a prefix; findings as (file, line, type))
GATE_EXPECTATIONS: dict[str, tuple[dict[str, str], list[tuple[str, int, str]]]] = {
    "python_script": (
        {
            "tests with coverage": (
                "scripts/run_tests.py:4 (via .github/workflows/ci.yml:7 → scripts/ci.sh:7)"
            ),
            "security linter": "scripts/ci.sh:6 (via .github/workflows/ci.yml:7)",
        },
        [],
    ),
    "tox_factors": ({"tests with coverage": "tox.ini:6 (via .github/workflows/ci.yml:7)"}, []),
    "tox_env_without_coverage": (
        {"linter": "tox.ini:11"},
        [("tox.ini", 7, "tests with coverage")],
    ),
    "nox_default_sessions": (
        {"tests with coverage": "noxfile.py:9 (via .github/workflows/ci.yml:7)"},
        [("noxfile.py", 9, "security linter"), ("noxfile.py", 9, "dependency audit")],
    ),
    "hatch_scripts": (
        {
            "tests with coverage": "pyproject.toml:6 (via .github/workflows/ci.yml:7): "
            "pytest --cov=app --cov-report=term"
        },
        [],
    ),
    "hatch_test_without_coverage": ({}, [("pyproject.toml", 6, "tests with coverage")]),
    "pdm_scripts": (
        {
            "tests with coverage": "pyproject.toml:6 (via .github/workflows/ci.yml:7): "
            "pytest --cov=app",
            "security linter": "pyproject.toml:8",
        },
        [],
    ),
    "poetry_poe_tasks": (
        {
            "tests with coverage": "pyproject.toml:8 (via .github/workflows/ci.yml:8): "
            "pytest --cov=app",
            "security linter": "pyproject.toml:11",
        },
        [],
    ),
    "pre_commit_local_hooks": (
        {
            "tests with coverage": "scripts/checks.sh:4 (via .github/workflows/ci.yml:7 → "
            ".pre-commit-config.yaml:13): pytest",
            "type checker": ".pre-commit-config.yaml:9",
        },
        [],
    ),
    "npm_and_uv": (
        {
            "security linter": "web/package.json:6 (via .github/workflows/ci.yml:7 → "
            "web/package.json:4): semgrep",
            "dependency audit": "web/package.json:4",
        },
        [],
    ),
    "make_directory_and_variables": (
        {
            "tests with coverage": "backend/Makefile:4 (via .github/workflows/ci.yml:7): "
            "$(PYTHON) -m pytest --cov=app",
            "type checker": "backend/Makefile:6 (via .github/workflows/ci.yml:7)",
            "dependency audit": "backend/Makefile:12 (via .github/workflows/ci.yml:8)",
        },
        [],
    ),
    "tox_toml_native": (
        {
            "tests with coverage": "tox.toml:4 (via .github/workflows/ci.yml:7): pytest",
            "type checker": "tox.toml:7 (via .github/workflows/ci.yml:7): mypy app",
        },
        [],
    ),
    "jenkins_steps": (
        {
            "tests with coverage": "Makefile:2 (via Jenkinsfile:5): pytest --cov=app",
            "linter": "Jenkinsfile:6: bash -c",
            "dependency audit": "Jenkinsfile:10: pip-audit",
        },
        [],
    ),
    "scripts_that_call_each_other": (
        {
            "security linter": "scripts/b.sh:2 (via .github/workflows/ci.yml:7 → Makefile:2 → "
            "scripts/a.sh:3)"
        },
        [("scripts/a.sh", 2, "tests with coverage")],
    ),
}


@pytest.mark.parametrize("name", sorted(GATE_VARIANTS))
def test_quality_gates_follow_what_ci_calls(tmp_path: Path, name: str) -> None:
    files, status = GATE_VARIANTS[name]
    root = make_repo(tmp_path / name, files=files)
    outcome = run_repo(f'url = "{root.as_uri()}"', keys=["repo.quality_gates"])
    gates = outcome["repo.quality_gates"]
    assert gates.status == status, gates
    found, pinned = GATE_EXPECTATIONS[name]
    for gate, where in found.items():
        assert gates.evidence["found"][gate].startswith(where), gates.evidence["found"]
    findings = gates.evidence.get("findings", [])
    assert [(f["file"], f["line"], f["type"]) for f in findings] == pinned
    if name == "scripts_that_call_each_other":
        notes = gates.evidence["not_followed"]
        assert len(notes) == 3 and all("calls itself again" in note for note in notes)


# --- portal: the token is a write-only, encrypted secret -----------------------------------


@pytest.mark.django_db
def test_portal_stores_the_repo_token_encrypted(service, lead) -> None:  # type: ignore[no-untyped-def]
    from checks.services import profiles

    toml = profile('url = "https://git.example.com/acme/orders.git"')
    saved = profiles.profile_save(
        service=service, toml=toml, new_secrets={"repo_token": "tok-123"}, clear=[], actor=lead
    )
    assert "tok-123" not in json.dumps(saved.secrets) and "tok-123" not in saved.toml
    assert profiles.engine_profile(saved).repo.token == "tok-123"
    with pytest.raises(ProfileError) as caught:
        profiles.profile_save(
            service=service, toml=toml + 'token = "x"\n', new_secrets={}, clear=[], actor=lead
        )
    assert caught.value.field == "repo.token"


def test_labels_mode_tests_and_short_ids_are_dismissed_real_passwords_are_not(
    tmp_path: Path,
) -> None:
    # The false alarms Preflight's own repository raised: form labels and hints keyed by a
    # secret's name, a template comparing a mode, a short hex id in a docstring.
    noise = (
        'SECRET_LABELS = {\n    "password": "Probe password",\n'
        '    "client_secret": "OAuth2 client secret",\n}\n'
        'HINTS = {"repo.no_secrets": "Remove each credential the evidence points at, rotate it"}\n'
        '_FILTERS = {"detect_secrets.filters.regex.should_exclude_secret": "secrets"}\n'
        '"""Alembic\'s ``revision = "ae1027a6acf"`` looks like hex."""\n'
    )
    template = (
        '{% if local_passwords != "off" %}\n{% if local_passwords == "all" %}x{% endif %}\n'
        "{% endif %}\n"
    )
    leaks = 'DB_PASSWORD = "Xk9mq2Lr8vTq"\nif password == "Summer2024!":\n    pass\n'
    root = make_repo(
        tmp_path / "labels",
        files={"app/labels.py": noise, "app/templates/login.html": template},
    )
    lines, keys = f'url = "{root.as_uri()}"', ["repo.no_secrets"]
    outcome = run_repo(lines, keys=keys)["repo.no_secrets"]
    assert outcome.status == Status.PASS, outcome.evidence
    assert outcome.evidence["dismissed"] == {
        "words, not a credential": 3,
        "placeholder": 1,
        "too short for a key": 1,
        "compared with a word": 2,
    }
    write_and_commit(root, {"app/settings.py": leaks}, "real passwords")
    outcome = run_repo(lines, keys=keys)["repo.no_secrets"]
    assert [(f["file"], f["line"]) for f in outcome.evidence["findings"]] == [
        ("app/settings.py", 1),
        ("app/settings.py", 2),
    ]
