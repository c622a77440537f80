"""Quality gates in CI: which tools the CI configuration actually runs, and where.

CI systems recognised: GitHub Actions, GitLab CI, Azure Pipelines, CircleCI, Bitbucket
Pipelines (YAML, parsed with PyYAML's composer so each command keeps its line) and Jenkins
(a Jenkinsfile is Groovy: read line by line). Commands are the scalars under the keys that
hold shell steps (``run``, ``script``, ``command``...), plus action references (``uses``) and
GitLab ``include`` templates. One level of indirection is followed, because CI configs often
delegate: ``make <target>`` (Makefile recipes, with prerequisites) and ``pre-commit run``
(hook ids of .pre-commit-config.yaml).

Security linter decision: bandit, semgrep, CodeQL, gosec and GitLab SAST count; ruff counts
only when its configuration (pyproject.toml/ruff.toml) or its command line selects the
flake8-bandit ``S`` rules (or ``ALL``), since plain ruff checks no security rule.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from checks.catalog.repo.clone import Repo
from checks.catalog.repo.infra import mapping_keys, yaml_nodes

_COMMAND_KEYS = {
    *("run", "script", "before_script", "after_script", "command", "commands"),
    *("bash", "pwsh", "powershell", "inlineScript", "sh", "uses", "include", "template"),
}
_LABEL_KEYS = {"name", "displayName", "id", "if", "condition", "when", "shell"}
_LABEL_KEYS |= {"working-directory", "workingDirectory", "timeout-minutes"}


@dataclass(frozen=True)
class Command:
    file: str
    line: int
    text: str
    via: str | None = None  # "ci.yml:12" when reached through make / pre-commit

    def where(self) -> str:
        at = f"{self.file}:{self.line}"
        return f"{at} (via {self.via})" if self.via else at


@dataclass(frozen=True)
class Gate:
    name: str
    looked_for: str
    example: str
    pattern: re.Pattern[str]


_TEST_RUNNER = re.compile(
    r"\bpytest\b|py\.test|coverage run|\bgo test\b|\bjest\b|\bvitest\b|\bnpm (run )?test\b|"
    r"manage\.py test|\btox\b|\bnox\b",
    re.IGNORECASE,
)
_RUFF = re.compile(r"\bruff\b(?![-\s]+format)", re.IGNORECASE)
GATES = (
    Gate(
        "tests with coverage",
        "pytest --cov, coverage run, go test -cover, jest/vitest --coverage",
        "pytest --cov --cov-fail-under=85",
        re.compile(r"--cov\b|coverage run|\bgo test\b.*-cover|--coverage\b", re.IGNORECASE),
    ),
    Gate(
        "linter",
        "ruff, flake8, pylint, golangci-lint, eslint",
        "ruff check .",
        re.compile(_RUFF.pattern + r"|\bflake8\b|\bpylint\b|golangci-lint|\beslint\b", re.I),
    ),
    Gate(
        "type checker",
        "mypy, pyright, pytype, tsc",
        "mypy .",
        re.compile(r"\bmypy\b|\bpyright\b|\bpytype\b|\btsc\b", re.IGNORECASE),
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
            r"\btrivy\b|Dependency-Scanning|govulncheck|dependency-review-action|cargo audit",
            re.IGNORECASE,
        ),
    ),
)


def ci_files(repo: Repo) -> list[tuple[str, str]]:
    """(path, CI system) for every CI configuration tracked at the repository root."""
    found = []
    for rel in repo.tracked:
        path = PurePosixPath(rel)
        if str(path.parent) == ".github/workflows" and path.suffix in (".yml", ".yaml"):
            found.append((rel, "GitHub Actions"))
        elif rel == ".gitlab-ci.yml":
            found.append((rel, "GitLab CI"))
        elif rel in ("azure-pipelines.yml", "azure-pipelines.yaml") or (
            str(path.parent) == ".azure-pipelines" and path.suffix in (".yml", ".yaml")
        ):
            found.append((rel, "Azure Pipelines"))
        elif rel == ".circleci/config.yml":
            found.append((rel, "CircleCI"))
        elif rel == "bitbucket-pipelines.yml":
            found.append((rel, "Bitbucket Pipelines"))
        elif rel == "Jenkinsfile":
            found.append((rel, "Jenkins"))
    return found


def _scalar_lines(node: yaml.ScalarNode) -> list[tuple[int, str]]:
    text = str(node.value)
    first = node.start_mark.line + 1
    if node.style in ("|", ">"):
        return [(first + 1 + i, line) for i, line in enumerate(text.splitlines())]
    return [(first, text)]


def _join_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in lines:
        if pending is not None:
            number, line = pending[0], pending[1] + " " + line.strip()
        if line.rstrip().endswith("\\"):
            pending = (number, line.rstrip()[:-1])
            continue
        pending = None
        if line.strip():
            joined.append((number, line.strip()))
    if pending is not None:
        joined.append(pending)
    return joined


def _walk(node: yaml.Node, in_command: bool, out: list[tuple[int, str]]) -> None:
    if isinstance(node, yaml.ScalarNode):
        if in_command:
            out.extend(_scalar_lines(node))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _walk(item, in_command, out)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            if in_command and name in _LABEL_KEYS:
                continue
            _walk(value, in_command or name in _COMMAND_KEYS, out)


def commands_in(repo: Repo, rel: str) -> list[Command]:
    text = repo.read_text(rel) or ""
    if rel.endswith("Jenkinsfile"):
        raw = list(enumerate(text.splitlines(), start=1))
    else:
        raw = []
        for root in yaml_nodes(text):
            _walk(root, False, raw)
    return [Command(rel, n, line) for n, line in _join_continuations(raw)]


# --- one level of indirection: make and pre-commit ---

_MAKE = re.compile(r"(?:^|[;&|(]\s*|\s)(?:make|\$\(MAKE\))((?:\s+[^\s;&|#]+)*)")
_TARGET = re.compile(r"^([A-Za-z0-9_.%/-][A-Za-z0-9_.%/ -]*)\s*:(?!=)(.*)$")


def _makefile(repo: Repo) -> tuple[str, dict[str, tuple[list[str], list[tuple[int, str]]]]]:
    for rel in (repo.under_base("Makefile"), "Makefile"):
        text = repo.read_text(rel)
        if text is not None:
            break
    else:
        return "", {}
    targets: dict[str, tuple[list[str], list[tuple[int, str]]]] = {}
    current: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("\t") and current:
            for name in current:
                targets[name][1].append((number, line.strip().lstrip("@-+")))
            continue
        match = _TARGET.match(line)
        current = []
        if match and not line.startswith((" ", "#")):
            prereqs = match.group(2).split("#", 1)[0].split()
            current = match.group(1).split()
            for name in current:
                targets.setdefault(name, ([], []))[0].extend(prereqs)
    return rel, targets


def _expand_make(repo: Repo, command: Command) -> list[Command]:
    match = _MAKE.search(command.text)
    if not match:
        return []
    rel, targets = _makefile(repo)
    if not targets:
        return []
    wanted = [w for w in match.group(1).split() if not w.startswith("-") and "=" not in w]
    queue = wanted or [next(iter(t for t in targets if not t.startswith(".")), "")]
    seen: set[str] = set()
    found = []
    while queue and len(seen) < 50:
        name = queue.pop(0)
        if name in seen or name not in targets:
            continue
        seen.add(name)
        prereqs, recipe = targets[name]
        queue.extend(prereqs)
        for number, line in recipe:
            found.append(Command(rel, number, line, via=command.where()))
            inner = _MAKE.search(line)
            if inner:
                queue.extend(w for w in inner.group(1).split() if not w.startswith("-"))
    return found


def _expand_pre_commit(repo: Repo, command: Command) -> list[Command]:
    if "pre-commit" not in command.text:
        return []
    rel = ".pre-commit-config.yaml"
    found = []
    for root in yaml_nodes(repo.read_text(rel) or ""):
        repos = mapping_keys(root).get("repos")
        for entry in repos.value if isinstance(repos, yaml.SequenceNode) else []:
            hooks = mapping_keys(entry).get("hooks")
            for hook in hooks.value if isinstance(hooks, yaml.SequenceNode) else []:
                keys = mapping_keys(hook)
                for key in ("id", "entry"):
                    node = keys.get(key)
                    if isinstance(node, yaml.ScalarNode):
                        line = node.start_mark.line + 1
                        found.append(Command(rel, line, str(node.value), via=command.where()))
    return found


def all_commands(repo: Repo, files: list[tuple[str, str]]) -> list[Command]:
    commands: list[Command] = []
    for rel, _system in files:
        for command in commands_in(repo, rel):
            commands.append(command)
            commands.extend(_expand_make(repo, command))
            commands.extend(_expand_pre_commit(repo, command))
    return commands


# --- project configuration consulted for ruff's S rules and pytest's --cov ---


def _toml(repo: Repo, rel: str) -> dict[str, Any]:
    try:
        return tomllib.loads(repo.read_text(rel) or "")
    except tomllib.TOMLDecodeError:
        return {}


def _config_dirs(repo: Repo) -> list[str]:
    return [repo.under_base(""), ""] if repo.subdir else [""]


def ruff_selects_security(repo: Repo, command_text: str) -> bool:
    if re.search(r"--(extend-)?select[= ]\S*\b(S\d*|ALL)\b", command_text):
        return True
    selected: list[Any] = []
    for folder in _config_dirs(repo):
        tool = _toml(repo, f"{folder}pyproject.toml").get("tool", {}).get("ruff", {})
        for table in (tool, tool.get("lint", {})):
            selected += table.get("select", []) + table.get("extend-select", [])
        for name in ("ruff.toml", ".ruff.toml"):
            data = _toml(repo, f"{folder}{name}")
            for table in (data, data.get("lint", {})):
                selected += table.get("select", []) + table.get("extend-select", [])
    return any(isinstance(c, str) and re.fullmatch(r"S\d*|ALL", c) for c in selected)


def pytest_config_has_cov(repo: Repo) -> str | None:
    """The config file whose pytest ``addopts`` turn coverage on, if any."""
    for folder in _config_dirs(repo):
        rel = f"{folder}pyproject.toml"
        options = _toml(repo, rel).get("tool", {}).get("pytest", {}).get("ini_options", {})
        addopts = options.get("addopts", "")
        if "--cov" in (" ".join(addopts) if isinstance(addopts, list) else str(addopts)):
            return rel
        for name, section in (("pytest.ini", "pytest"), ("setup.cfg", "tool:pytest")):
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read_string(repo.read_text(f"{folder}{name}") or "")
            except configparser.Error:
                continue
            if "--cov" in parser.get(section, "addopts", fallback=""):
                return f"{folder}{name}"
    return None
