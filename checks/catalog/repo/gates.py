"""The quality gates CI must run, judged over every command it reaches (follow.py).

A gate is found when any reached command runs its tool; installing a tool is not running
it. Security linter decision: bandit, semgrep, CodeQL, gosec and GitLab SAST count; ruff
counts only when its configuration (pyproject.toml/ruff.toml, where the command runs or at
the root) or its command line selects the flake8-bandit ``S`` rules (or ``ALL``). Tests with
coverage: a coverage flag on the command, or pytest whose ``addopts`` turn ``--cov`` on.

Findings are pinned where the step is missing: tests that run without coverage are pinned to
the line that runs them (a Makefile recipe, a script line, a tox command), with the chain of
calls from the CI file; a gate that is missing altogether is pinned to the file where CI's
other gates run, at its first step.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from checks.catalog.repo import ci
from checks.catalog.repo.ci import Command
from checks.catalog.repo.clone import Repo
from checks.catalog.repo.runners import short


@dataclass(frozen=True)
class Gate:
    name: str
    looked_for: str
    example: str
    pattern: re.Pattern[str]


TEST_RUNNER = re.compile(
    r"\bpytest\b|py\.test|coverage run|\bgo test\b|\bjest\b|\bvitest\b|\bnpm (run )?test\b|"
    r"manage\.py test|\btox\b|\bnox\b|\bhatch test\b|\bunittest\b",
    re.IGNORECASE,
)
RUFF = re.compile(r"\bruff\b(?![-\s]+format)", re.IGNORECASE)
_INSTALL = re.compile(
    r"\b(?:pip3?|uv\s+pip|pipx|poetry|pdm|uv|npm|yarn|pnpm|apt(?:-get)?|brew|conda)\s+"
    r"(?:install|add|sync|ci)\b|\bsession\.install\b|\b(?:pip|uv)\s+tool\s+install\b",
    re.IGNORECASE,
)
GATES = (
    Gate(
        "tests with coverage",
        "pytest --cov, coverage run, go test -cover, jest/vitest --coverage, hatch test --cover",
        "pytest --cov --cov-fail-under=85",
        re.compile(
            r"--cov\b|coverage run|\bgo test\b.*-cover|--coverage\b|\bhatch test\b.*--cover",
            re.IGNORECASE,
        ),
    ),
    Gate(
        "linter",
        "ruff, flake8, pylint, golangci-lint, eslint",
        "ruff check .",
        re.compile(
            RUFF.pattern + r"|\bflake8\b|\bpylint\b|golangci-lint|\beslint\b|\bhatch fmt\b", re.I
        ),
    ),
    Gate(
        "type checker",
        "mypy, pyright, pytype, tsc",
        "mypy .",
        re.compile(r"\bmypy\b|\bpyright\b|\bpytype\b|\btsc\b|\bbasedpyright\b|\bty check\b", re.I),
    ),
    Gate(
        "security linter",
        "bandit, ruff with the S rules, semgrep, CodeQL, gosec, GitLab SAST",
        "bandit -r . (or select ruff's S rules)",
        re.compile(r"\bbandit\b|\bsemgrep\b|codeql-action|\bgosec\b|Security/SAST", re.I),
    ),
    Gate(
        "dependency audit",
        "pip-audit, safety, snyk, osv-scanner, npm audit, trivy, govulncheck",
        "pip-audit",
        re.compile(
            r"pip-audit|\bsafety\s+(check|scan)\b|\bsnyk\b|osv-scanner|\b(npm|yarn) audit\b|"
            r"\btrivy\b|Dependency-Scanning|govulncheck|dependency-review-action|cargo audit|"
            r"\buv\s+audit\b",
            re.IGNORECASE,
        ),
    ),
)


def _runs(command: Command) -> bool:
    """The command runs tools (it does not merely install them)."""
    return not _INSTALL.search(command.text)


def _hits(repo: Repo, gate: Gate, commands: list[Command]) -> list[Command]:
    hits = [c for c in commands if gate.pattern.search(c.text) and _runs(c)]
    if not hits and gate.name == "security linter":
        hits = [
            c
            for c in commands
            if RUFF.search(c.text) and _runs(c) and ci.ruff_selects_security(repo, c.text, {c.cwd})
        ]
    if not hits and gate.name == "tests with coverage":
        pytest = [c for c in commands if re.search(r"\bpytest\b|py\.test", c.text) and _runs(c)]
        hits = [c for c in pytest if ci.pytest_config_has_cov(repo, {c.cwd})]
    return hits


def runs_of_tests(commands: list[Command]) -> list[Command]:
    """Commands that run tests themselves (not those that only call something that does)."""
    runs = [c for c in commands if TEST_RUNNER.search(c.text) and _runs(c)]
    return [c for c in runs if not c.delegates] or runs


def chain(command: Command) -> str:
    """``ci.yml:12` runs `make test` → Makefile target `test` (Makefile:5)`` for a problem."""
    steps = [f"`{hop.at()}` runs `{short(hop.text, 60)}`" for hop in command.via]
    here = f"`{command.file}:{command.line}`"
    if command.context:
        here = f"{command.context} ({here})"
    return " → ".join([*steps, here]) if steps else here


def _coverage_fix(test: Command) -> str:
    at = f"{test.file}:{test.line}"
    if re.search(r"\bpytest\b|py\.test", test.text):
        return (
            f"add `--cov=<package> --cov-fail-under=85` to the pytest command at {at}, or turn "
            'coverage on for every pytest run with `addopts = "--cov=<package>"` under '
            "[tool.pytest.ini_options]"
        )
    if "manage.py test" in test.text:
        return f"run the tests at {at} as `coverage run manage.py test` and `coverage report`"
    return f"run the tests at {at} with coverage ({GATES[0].looked_for})"


@dataclass
class Judgement:
    found: dict[str, str]
    findings: list[dict[str, Any]]


def _home(commands: list[Command], hits: list[Command], main_file: str) -> tuple[str, int | None]:
    """Where a missing gate belongs: the file holding most of CI's gates, at its first step."""
    files = Counter(c.file for c in hits)
    home = max(files, key=lambda f: (files[f], f == main_file)) if files else main_file
    lines = [c.line for c in commands if c.file == home]
    return home, min(lines) if lines else None


def judge(repo: Repo, commands: list[Command], main_file: str) -> Judgement:
    found: dict[str, str] = {}
    first_hits: list[Command] = []
    missing = []
    for gate in GATES:
        hits = _hits(repo, gate, commands)
        if hits:
            found[gate.name] = f"{hits[0].where()}: {hits[0].text[:160]}"
            first_hits.append(hits[0])
        else:
            missing.append(gate)
    tests = runs_of_tests(commands)
    home, home_line = _home(commands, first_hits + tests[:1], main_file)
    findings = []
    for gate in missing:
        if gate.name == "tests with coverage" and tests:
            test = tests[0]
            more = f" (and {len(tests) - 1} more test runs)" if len(tests) > 1 else ""
            problem = f"{chain(test)} runs `{short(test.text)}` without coverage{more}"
            findings.append(
                {
                    "file": test.file,
                    "line": test.line,
                    "type": gate.name,
                    "problem": problem,
                    "fix": _coverage_fix(test),
                }
            )
            continue
        findings.append(
            {
                "file": home,
                "line": home_line,
                "type": gate.name,
                "problem": f"CI runs no {gate.name} ({gate.looked_for})",
                "fix": f"add a step running `{gate.example}` to {home}, where CI's other "
                "checks run",
            }
        )
    return Judgement(found, findings)
