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

import pytest

from checks.catalog import REGISTRY
from checks.engine.http import DestinationPolicy
from checks.engine.outcome import Outcome, Status
from checks.engine.profile import ProfileError, parse_profile
from checks.engine.runner import run_checks
from checks.engine.target import Target, build_target
from tests.support.gitrepos import FLAW_LOCATIONS, FLAWS, git, make_repo, write_and_commit

ROOT = Path(__file__).resolve().parents[2]
PREFLIGHT = [sys.executable, "manage.py", "preflight", "check"]
KEYS = [key for key, spec in REGISTRY.items() if spec.step == "repo"]
POLICY = DestinationPolicy(allow=["127.0.0.0/8", "localhost"], allow_local_repos=True)


def profile(repo_lines: str) -> str:
    return f'[service]\nname = "orders"\nbase_url = "http://127.0.0.1:1"\n[repo]\n{repo_lines}\n'


def run_repo(repo_lines: str, policy: DestinationPolicy = POLICY) -> dict[str, Outcome]:
    target = build_target(parse_profile(profile(repo_lines), env={}), policy)
    try:
        outcomes = run_checks(target, [REGISTRY[k] for k in KEYS])
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
    assert problems[0] == "tests run at .circleci/config.yml:6 but without coverage"
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


def _cli(tmp_path: Path, repo: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{repo.name}.toml"
    path.write_text(profile(f'url = "{repo.as_uri()}"'))
    return subprocess.run(
        [*PREFLIGHT, "--profile", str(path), "--only", ",".join(KEYS), "--json"],
        cwd=ROOT,
        env={**os.environ, "PREFLIGHT_ENV": "test", "PREFLIGHT_VAR_DIR": str(tmp_path)},
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
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("preflight-repo-*/clone/.git"))


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
