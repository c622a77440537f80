"""CI configuration: which files configure CI, and the commands each one runs, line by line.

CI systems recognised: GitHub Actions, GitLab CI, Azure Pipelines, CircleCI, Bitbucket
Pipelines (YAML, parsed with PyYAML's composer so each command keeps its line) and Jenkins
(a Jenkinsfile is Groovy: read line by line). Commands are the scalars under the keys that
hold shell steps (``run``, ``script``, ``command``...), plus action references (``uses``) and
GitLab ``include`` templates; a step's ``working-directory`` (or a job's
``defaults.run.working-directory``) is kept, so the scripts and configs a step calls are
looked up where the step runs. What those commands call in turn is followed by follow.py.
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
_WORKDIR_KEYS = ("working-directory", "workingDirectory", "working_directory")
# A Jenkinsfile step: sh 'make test' / sh(script: "pytest") / bat "..."; its text is the command.
_JENKINS_STEP = re.compile(
    r"""\b(?:sh|bat|powershell|pwsh)\s*\(?\s*(?:script\s*:\s*)?(['"])(.+?)\1"""
)


@dataclass(frozen=True)
class Hop:
    """One call on the way from a CI file to a command: where, and what it ran."""

    file: str
    line: int
    text: str

    def at(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Command:
    file: str
    line: int
    text: str
    via: tuple[Hop, ...] = ()  # the calls that led here, from the CI file down
    context: str | None = None  # "Makefile target `test`", "tox env `py`", ...
    cwd: str = ""  # where it runs, relative to the repository root ("" = the root)
    delegates: bool = False  # it calls something that was followed

    def where(self) -> str:
        at = f"{self.file}:{self.line}"
        return f"{at} (via {' → '.join(h.at() for h in self.via)})" if self.via else at

    def hop(self) -> Hop:
        return Hop(self.file, self.line, self.text)

    def called(self, file: str, line: int, text: str, context: str, cwd: str) -> Command:
        """A command this one leads to (a recipe line, a script line, a tox command...),
        run from ``cwd``."""
        return Command(file, line, text, (*self.via, self.hop()), context, cwd)


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


def join_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Shell lines ending in ``\\`` joined to the next, numbered by their first line."""
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


def _workdir(keys: dict[str, yaml.Node]) -> str | None:
    """The working directory a YAML step or job (``defaults.run``) declares, if literal."""
    defaults = mapping_keys(keys["defaults"]) if "defaults" in keys else {}
    run_defaults = mapping_keys(defaults["run"]) if "run" in defaults else {}
    candidates = [keys.get(k) for k in _WORKDIR_KEYS] + [run_defaults.get(k) for k in _WORKDIR_KEYS]
    for node in candidates:
        if isinstance(node, yaml.ScalarNode) and node.value and "$" not in str(node.value):
            folder = str(PurePosixPath(str(node.value).strip().removeprefix("./")))
            return "" if folder == "." else folder
    return None


def _walk(node: yaml.Node, in_command: bool, cwd: str, out: list[tuple[int, str, str]]) -> None:
    if isinstance(node, yaml.ScalarNode):
        if in_command:
            out.extend((n, line, cwd) for n, line in _scalar_lines(node))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _walk(item, in_command, cwd, out)
    elif isinstance(node, yaml.MappingNode):
        declared = _workdir(mapping_keys(node))
        cwd = cwd if declared is None else declared
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            if in_command and name in _LABEL_KEYS:
                continue
            if name == "defaults" and not in_command:
                continue
            _walk(value, in_command or name in _COMMAND_KEYS, cwd, out)


def yaml_commands(text: str) -> list[tuple[int, str, str]]:
    """(line, command, working directory) of every shell step in a CI-style YAML file."""
    raw: list[tuple[int, str, str]] = []
    for root in yaml_nodes(text):
        _walk(root, False, "", raw)
    by_dir: dict[str, list[tuple[int, str]]] = {}
    for number, line, cwd in raw:
        by_dir.setdefault(cwd, []).append((number, line))
    joined = [
        (number, line, cwd)
        for cwd, lines in by_dir.items()
        for number, line in join_continuations(lines)
    ]
    return sorted(joined)


def commands_in(repo: Repo, rel: str) -> list[Command]:
    text = repo.read_text(rel) or ""
    if rel.endswith("Jenkinsfile"):
        lines = join_continuations(list(enumerate(text.splitlines(), start=1)))
        steps = [(n, _JENKINS_STEP.search(line)) for n, line in lines]
        return [
            Command(rel, n, step.group(2) if step else line)
            for (n, line), (_n, step) in zip(lines, steps, strict=True)
        ]
    return [Command(rel, n, line, cwd=cwd) for n, line, cwd in yaml_commands(text)]


# --- project configuration consulted for ruff's S rules and pytest's --cov ---


def toml(repo: Repo, rel: str) -> dict[str, Any]:
    try:
        return tomllib.loads(repo.read_text(rel) or "")
    except tomllib.TOMLDecodeError:
        return {}


def config_dirs(repo: Repo, extra: set[str] | None = None) -> list[str]:
    """Folders (as ``""`` or ``"dir/"``) where project configuration may live."""
    folders = [f"{d}/" for d in sorted(extra or set()) if d]
    if repo.subdir:
        folders.append(repo.under_base(""))
    return [*dict.fromkeys([*folders, ""])]


def ruff_selects_security(repo: Repo, command_text: str, dirs: set[str] | None = None) -> bool:
    if re.search(r"--(extend-)?select[= ]\S*\b(S\d*|ALL)\b", command_text):
        return True
    selected: list[Any] = []
    for folder in config_dirs(repo, dirs):
        tool = toml(repo, f"{folder}pyproject.toml").get("tool", {}).get("ruff", {})
        for table in (tool, tool.get("lint", {})):
            selected += table.get("select", []) + table.get("extend-select", [])
        for name in ("ruff.toml", ".ruff.toml"):
            data = toml(repo, f"{folder}{name}")
            for table in (data, data.get("lint", {})):
                selected += table.get("select", []) + table.get("extend-select", [])
    return any(isinstance(c, str) and re.fullmatch(r"S\d*|ALL", c) for c in selected)


def pytest_config_has_cov(repo: Repo, dirs: set[str] | None = None) -> str | None:
    """The config file whose pytest ``addopts`` turn coverage on, if any."""
    for folder in config_dirs(repo, dirs):
        rel = f"{folder}pyproject.toml"
        options = toml(repo, rel).get("tool", {}).get("pytest", {}).get("ini_options", {})
        addopts = options.get("addopts", "")
        if "--cov" in (" ".join(addopts) if isinstance(addopts, list) else str(addopts)):
            return rel
        sections = (("pytest.ini", "pytest"), ("setup.cfg", "tool:pytest"), ("tox.ini", "pytest"))
        for name, section in sections:
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read_string(repo.read_text(f"{folder}{name}") or "")
            except configparser.Error:
                continue
            if "--cov" in parser.get(section, "addopts", fallback=""):
                return f"{folder}{name}"
    return None
