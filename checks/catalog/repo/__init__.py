"""Checklist items verified in the service's repository (read-only shallow clone).

The seven checks share one clone per run (``clone.repo_of``). A repository that cannot be
cloned (unreachable, refused by the destination policy, over the size cap) makes every check
answer ``error``; a profile without ``[repo]`` makes them ``skip`` naming ``repo.url``. Every
finding names the file and line (relative to the repository root) and how to fix it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from checks.catalog.repo import ci, dockerfile, follow, gates, infra, secretscan
from checks.catalog.repo.clone import Repo, RepoUnavailable, repo_of
from checks.engine.outcome import Verdict, errored, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

MAX_FINDINGS = 50
# Tracked env files that are meant to be committed (templates, no values).
_ENV_TEMPLATES = {".env.example", ".env.sample", ".env.template", ".env.dist"}
# The clone's own timeout is at most 300 s (repo.timeout_s); parsing and scanning come after.
_TIMEOUT_S = 420.0


def _finding(file: str, line: int | None, kind: str, problem: str, fix: str) -> dict[str, Any]:
    """One finding in the shared evidence shape ``{file, line, type}``, plus what and how."""
    return {"file": file, "line": line, "type": kind, "problem": problem, "fix": fix}


def _repo_evidence(repo: Repo) -> dict[str, Any]:
    return {"source": repo.source, "commit": repo.commit, "subdir": repo.subdir}


def repo_check(check: Callable[[Target, Repo], Verdict]) -> Callable[[Target], Verdict]:
    """Hand the check the run's clone; turn an unusable repository into ``error`` and a
    missing Dockerfile into ``fail``."""

    @functools.wraps(check)
    def run(t: Target) -> Verdict:
        try:
            repo = repo_of(t)
        except RepoUnavailable as exc:
            return errored(exc.summary, **exc.evidence)
        try:
            return check(t, repo)
        except dockerfile.DockerfileMissing as exc:
            return failed(
                f"no Dockerfile at {exc.path}",
                findings=[
                    _finding(
                        exc.path,
                        None,
                        "missing Dockerfile",
                        "the Dockerfile is missing (or not tracked)",
                        "commit a Dockerfile there, or set repo.dockerfile / repo.subdir",
                    )
                ],
                repository=_repo_evidence(repo),
            )

    return run


def _load_dockerfile(t: Target, repo: Repo) -> dockerfile.Dockerfile:
    df = dockerfile.load(repo, repo.under_base(t.profile.repo.dockerfile))
    if not df.stages:
        raise dockerfile.DockerfileMissing(df.path)
    return df


def _verdict(ok: str, findings: list[dict[str, Any]], repo: Repo, **extra: Any) -> Verdict:
    evidence = {"repository": _repo_evidence(repo), **extra}
    if findings:
        first = findings[0]
        where = f"{first['file']}:{first['line']}" if first["line"] else first["file"]
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        return failed(f"{where}: {first['problem']}{more}", findings=findings[:MAX_FINDINGS],
                      **evidence)  # fmt: skip
    return passed(ok, **evidence)


@repo_check
def dockerfile_multistage(t: Target, repo: Repo) -> Verdict:
    df = _load_dockerfile(t, repo)
    findings = []
    final = df.final
    if len(df.stages) < 2:
        findings.append(
            _finding(
                df.path,
                final.line,
                "single-stage build",
                "single-stage build: build tools and caches ship in the image",
                "build in a first stage (FROM python:3.12 AS build) and COPY --from=build "
                "only what runs into a slim final stage",
            )
        )
    base = df.final_base()
    if not dockerfile.is_slim(base):
        findings.append(
            _finding(
                df.path,
                final.line,
                "full base image",
                f"the final stage starts from a full image ({base})",
                "start the final stage FROM a slim or distroless image, e.g. "
                "python:3.12-slim or gcr.io/distroless/python3",
            )
        )
    ok = f"{len(df.stages)} stages; the final stage starts from {base} ({df.at(final.line)})"
    return _verdict(ok, findings, repo, stages=len(df.stages), final_base=base)


@repo_check
def dockerfile_nonroot(t: Target, repo: Repo) -> Verdict:
    df = _load_dockerfile(t, repo)
    final = df.final
    user = final.last("USER")
    fix = "add `USER 10001` (a non-root uid) in the final stage, after installing packages"
    if user is None:
        earlier = [s.last("USER") for s in df.stages[:-1] if s.last("USER")]
        note = " (USER in an earlier stage does not carry over)" if earlier else ""
        problem = f"the final stage never switches USER, so the container runs as root{note}"
        return _verdict("", [_finding(df.path, final.line, "runs as root", problem, fix)], repo)
    if dockerfile.is_root_user(user.value):
        problem = f"the final stage runs as root (USER {user.value})"
        return _verdict("", [_finding(df.path, user.line, "runs as root", problem, fix)], repo)
    if user.value.strip().startswith("$"):
        problem = f"USER {user.value} depends on a build variable; cannot tell it is not root"
        fix = "use a literal non-root uid, e.g. `USER 10001`"
        found = _finding(df.path, user.line, "USER from a build variable", problem, fix)
        return _verdict("", [found], repo)
    return _verdict(f"the final stage runs as USER {user.value} ({df.at(user.line)})", [], repo)


@repo_check
def dockerfile_healthcheck(t: Target, repo: Repo) -> Verdict:
    df = _load_dockerfile(t, repo)
    final = df.final
    check = final.last("HEALTHCHECK")
    fix = (
        "add to the final stage e.g. `HEALTHCHECK --interval=30s --timeout=3s CMD "
        "python -c \"import urllib.request;urllib.request.urlopen('http://127.0.0.1:8000/health')\"`"
    )
    if check is None:
        problem = "the final stage has no HEALTHCHECK"
        return _verdict("", [_finding(df.path, final.line, "no HEALTHCHECK", problem, fix)], repo)
    if check.value.strip().upper().startswith("NONE"):
        problem = "HEALTHCHECK NONE disables the health check"
        found = _finding(df.path, check.line, "HEALTHCHECK NONE", problem, fix)
        return _verdict("", [found], repo)
    return _verdict(f"HEALTHCHECK at {df.at(check.line)}", [], repo, healthcheck=check.value)


@repo_check
def env_config(t: Target, repo: Repo) -> Verdict:
    findings = []
    examples = [p for p in (repo.under_base(".env.example"), ".env.example") if repo.is_tracked(p)]
    if not examples:
        findings.append(
            _finding(
                repo.under_base(".env.example"),
                None,
                "no .env.example",
                ".env.example is not tracked",
                "commit a .env.example naming every setting, with placeholder values only",
            )
        )
    for rel in repo.tracked:
        name = rel.rsplit("/", 1)[-1]
        if (name == ".env" or name.startswith(".env.")) and name not in _ENV_TEMPLATES:
            findings.append(
                _finding(
                    rel,
                    1,
                    "tracked .env",
                    f"{name} is tracked: real settings (and secrets) live in git",
                    f"git rm --cached {rel}, add it to .gitignore and rotate what it held",
                )
            )
    try:
        df = _load_dockerfile(t, repo)
    except dockerfile.DockerfileMissing:
        df = None
    for baked in df.baked if df else []:
        findings.append(
            _finding(
                df.path if df else "",
                baked.line,
                "secret baked into the image",
                f"{baked.instruction} {baked.name} bakes a secret-looking value into the image",
                "pass it at run time from the environment or a secret store; for build "
                "secrets use RUN --mount=type=secret",
            )
        )
    ok = f"{examples[0] if examples else ''} tracked; no .env tracked; no secret baked in"
    return _verdict(ok, findings, repo)


def _secret_finding(f: secretscan.Finding, baseline: str | None) -> dict[str, Any]:
    problem = f"committed {f.kind} ({f.type})"
    if f.baseline_says_real:
        problem += f", marked a real secret in {baseline}"
    return {
        "file": f.file,
        "line": f.line,
        "type": f.type,
        "severity": f.kind,
        "problem": problem,
        "fix": "remove it, rotate it (it stays in git history), load it from the "
        "environment or a secret store",
    }


_LEFT_OUT = {
    "tests": "test",
    "fixtures": "fixture",
    "docs": "doc",
    "lock_files": "lock",
    "baseline exclude pattern": "baseline-excluded",
}


def _left_out(scan: secretscan.Scan) -> str:
    counts = [f"{scan.left_out[k]} {label}" for k, label in _LEFT_OUT.items() if scan.left_out[k]]
    if not counts:
        return ""
    scoped = any(scan.left_out[k] for k in ("tests", "fixtures", "docs", "lock_files"))
    hint = " (repo.secrets_include scans them)" if scoped else ""
    return f"; not scanned: {', '.join(counts)} files{hint}"


@repo_check
def no_secrets(t: Target, repo: Repo) -> Verdict:
    scan = secretscan.scan(repo, t.profile.repo.secrets_include)
    where = scan.baseline.path if scan.baseline else None
    findings = [_secret_finding(f, where) for f in scan.findings]
    extra = {
        "scanned_files": scan.scanned,
        "not_scanned_too_large": scan.too_large[:20],
        **scan.scope_evidence(),
    }
    if not findings and scan.over_budget:
        return errored(
            f"scan stopped after {secretscan.MAX_TOTAL_BYTES // 2**20} MiB of files "
            "without a finding; cannot decide",
            repository=_repo_evidence(repo),
            **extra,
        )
    ok = f"no committed credential found in {scan.scanned} tracked files{_left_out(scan)}"
    return _verdict(ok, findings, repo, **extra)


@repo_check
def infra_as_code(t: Target, repo: Repo) -> Verdict:
    found = infra.find(repo)
    evidence = found.as_evidence()
    if evidence:
        ok = "infrastructure described: " + ", ".join(
            f"{kind} ({len(items)})" for kind, items in evidence.items()
        )
        return passed(ok, found=evidence, repository=_repo_evidence(repo))
    problem = (
        "no Terraform (*.tf), Bicep (*.bicep), Kubernetes manifests (YAML with apiVersion "
        f"and kind) or Helm chart (Chart.yaml) among {len(repo.tracked)} tracked files"
    )
    fix = "describe the deployment in the repository, e.g. deploy/k8s/deployment.yaml"
    missing = _finding(repo.under_base("deploy/"), None, "no infrastructure as code", problem, fix)
    return _verdict("", [missing], repo)


@repo_check
def quality_gates(t: Target, repo: Repo) -> Verdict:
    files = ci.ci_files(repo)
    if not files:
        problem = (
            "no CI configuration (GitHub Actions, GitLab CI, Azure Pipelines, CircleCI, "
            "Bitbucket Pipelines, Jenkinsfile)"
        )
        fix = "add e.g. .github/workflows/ci.yml running tests with coverage, lint and audits"
        found = _finding(".github/workflows/", None, "no CI", problem, fix)
        return _verdict("", [found], repo)
    commands, notes = follow.all_commands(repo, files)
    starts = {
        rel: next((c.line for c in commands if c.file == rel and not c.via), None)
        for rel, _system in files
    }
    ci_evidence = [
        {"file": rel, "system": system, "steps_from_line": starts[rel]} for rel, system in files
    ]
    main_file = next((rel for rel, line in starts.items() if line), files[0][0])
    judged = gates.judge(repo, commands, main_file)
    followed = list(dict.fromkeys(f"{c.context} ({c.file})" for c in commands if c.context))
    extra = {"found": judged.found, "ci_files": ci_evidence, "followed": followed[:30]}
    if notes:
        extra["not_followed"] = notes
    ok = "CI runs " + ", ".join(judged.found)
    return _verdict(ok, judged.findings, repo, **extra)


def _spec(key: str, title: str, run: Callable[[Target], Verdict]) -> CheckSpec:
    return CheckSpec(key, "repo", title, run, timeout_s=_TIMEOUT_S)


CHECKS: tuple[CheckSpec, ...] = (
    _spec(
        "repo.dockerfile_multistage",
        "Dockerfile is multi-stage with a slim final base",
        dockerfile_multistage,
    ),
    _spec("repo.dockerfile_nonroot", "Final image runs as a non-root user", dockerfile_nonroot),
    _spec("repo.dockerfile_healthcheck", "Final image has a HEALTHCHECK", dockerfile_healthcheck),
    _spec("repo.env_config", "Configuration from the environment, no .env tracked", env_config),
    _spec("repo.no_secrets", "No committed credentials", no_secrets),
    _spec("repo.infra_as_code", "Infrastructure described as code", infra_as_code),
    _spec("repo.quality_gates", "CI runs the quality gates", quality_gates),
)
