"""Follow what CI calls, as the shell would: ``make test``, ``./scripts/test.sh``, ``tox -e
lint``, ``hatch run test:cov``, ``pre-commit run -a``, a composite action...

Every command is split into simple commands (``&&``, ``;``, ``|``), ``cd`` is tracked, and
wrappers (``sudo``, ``env X=1``, ``poetry run``, ``uv run``, ``python -m``) are peeled off
before the head word picks a follower: Makefile targets (with prerequisites and variables),
shell and Python scripts (tracked files; Python read with ``ast``, never run), pre-commit
hooks, composite actions, and the task runners in runners.py. What a followed command runs
keeps its own file and line and the chain of calls that led to it (``Command.via``), so a
finding can be pinned to the file that lacks the step.

Bounded: ``MAX_DEPTH`` calls deep, ``MAX_COMMANDS`` commands in all, and a call already on
the chain (a script that runs itself, two targets calling each other) is not followed again.
"""

from __future__ import annotations

import ast
import posixpath
import re
import shlex
from dataclasses import replace
from pathlib import PurePosixPath

import yaml

from checks.catalog.repo import runners
from checks.catalog.repo.ci import Command, commands_in, join_continuations
from checks.catalog.repo.clone import Repo
from checks.catalog.repo.infra import mapping_keys, yaml_nodes
from checks.catalog.repo.runners import Call, Project

MAX_DEPTH = 6
MAX_COMMANDS = 3000
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;", "|&"}
_WRAPPERS = {"sudo", "exec", "time", "nohup", "command", "xvfb-run", "nice", "stdbuf"}
_SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "source", "."}
_PYTHON = re.compile(r"^(?:python(?:\d(?:\.\d+)?)?|py|pypy3?)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_MAKE_SELF = re.compile(r"\$[({]MAKE[)}]")


def segments(text: str) -> list[list[str]]:
    """The simple commands of a shell line, as word lists (quotes removed)."""
    text = _MAKE_SELF.sub("make", text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: fall back to plain words
        tokens = text.split()
    found: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS:
            found.append([])
        elif token.startswith("#") and not found[-1]:
            break
        else:
            found[-1].append(token)
    return [words for words in found if words]


def unwrap(words: list[str]) -> list[str]:
    """Peel wrappers off a simple command: assignments, sudo/env/time, ``python -m X``,
    ``poetry run X``, ``uv run X``."""
    for _ in range(8):
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in _WRAPPERS):
            words = words[1:]
        if words and words[0] == "env":
            words = [w for w in words[1:] if not _ASSIGNMENT.match(w) and w != "-i"]
            continue
        if len(words) > 2 and _PYTHON.match(words[0]) and words[1] == "-m":
            words = words[2:]
            continue
        if (
            len(words) > 2
            and words[0] in ("poetry", "uv", "rye", "conda", "pipx")
            and (words[1] == "run")
        ):
            inner = runners.run_target(words)
            if inner:
                words = inner
                continue
        if len(words) > 1 and words[0] == "uvx":
            words = words[1:]
            continue
        break
    return words


# --- Makefiles ---

_TARGET = re.compile(r"^([A-Za-z0-9_.%/$(){}-][A-Za-z0-9_.%/ $(){}-]*)\s*::?(?!=)(.*)$")
_VARIABLE = re.compile(
    r"^(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?::{1,3}|\?|\+|!)?=\s*(.*)$"
)
_REFERENCE = re.compile(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]")


class Makefile:
    def __init__(self, text: str) -> None:
        self.targets: dict[str, tuple[list[str], list[tuple[int, str]]]] = {}
        self.variables: dict[str, str] = {}
        self.default: str | None = None
        current: list[str] = []
        lines = join_continuations(list(enumerate(text.splitlines(), start=1)))
        raw = text.splitlines()
        for number, line in lines:
            if raw[number - 1].startswith("\t") and current:
                recipe = line.strip().lstrip("@-+ ")
                if recipe and not recipe.startswith("#"):
                    for name in current:
                        self.targets[name][1].append((number, recipe))
                continue
            if line.startswith("#"):
                continue  # a comment line does not end the rule above it
            current = []
            variable = _VARIABLE.match(line)
            if variable:
                name, value = variable.groups()
                self.variables[name] = value.split("#", 1)[0].strip()
                continue
            match = _TARGET.match(line)
            if match:
                body = match.group(2).split("#", 1)[0]
                prereqs, _sep, inline = body.partition(";")
                current = match.group(1).split()
                for name in current:
                    entry = self.targets.setdefault(name, ([], []))
                    entry[0].extend(prereqs.split())
                    if inline.strip():
                        entry[1].append((number, inline.strip()))
                    if self.default is None and not name.startswith(".") and "%" not in name:
                        self.default = name

    def recipe(self, target: str) -> list[tuple[str, int, str]]:
        """(target, line, recipe line) that ``make target`` runs, prerequisites first."""
        found: list[tuple[str, int, str]] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen or name not in self.targets or len(seen) > 100:
                return
            seen.add(name)
            prereqs, recipe = self.targets[name]
            for prereq in prereqs:
                visit(self.expand(prereq))
            found.extend((name, number, line) for number, line in recipe)

        visit(target)
        return found

    def expand(self, text: str) -> str:
        for _ in range(4):
            expanded = _REFERENCE.sub(lambda m: self.variables.get(m.group(1), m.group(0)), text)
            if expanded == text:
                break
            text = expanded
        return text.replace("$$", "$")


def _inside(cwd: str, path: str) -> str:
    folder = posixpath.normpath(posixpath.join(cwd, path.strip("'\"")))
    return "" if folder == "." else folder


def _make(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    folder, file, wanted = cwd, None, []
    overrides: dict[str, str] = {}
    args = iter(words[1:])
    for word in args:
        if word in ("-C", "--directory"):
            folder = _inside(cwd, next(args, "."))
        elif word.startswith("--directory="):
            folder = _inside(cwd, word.split("=", 1)[1])
        elif word in ("-f", "--file", "--makefile"):
            file = next(args, None)
        elif word in ("-j", "--jobs", "-l", "-o", "-W"):
            next(args, None)
        elif _ASSIGNMENT.match(word):  # make test PYTEST_ARGS=--cov
            name, value = word.split("=", 1)
            overrides[name] = value
        elif not word.startswith("-"):
            wanted.append(word)
    names = [file] if file else ["GNUmakefile", "makefile", "Makefile"]
    rel = project.find(folder, *names)
    if rel is None:
        project.note(command, "no Makefile found")
        return []
    makefile = Makefile(project.text(rel))
    makefile.variables |= overrides
    label = PurePosixPath(rel).name
    calls = []
    for target in wanted or [makefile.default or ""]:
        if target not in makefile.targets:
            project.note(command, f"{rel} has no target `{target}`")
            continue
        found = [
            command.called(rel, number, makefile.expand(line), f"{label} target `{name}`", folder)
            for name, number, line in makefile.recipe(target)
        ]
        calls.append(Call(f"make:{rel}:{target}", found))
    return calls


# --- scripts ---

_RUNS = {"run", "call", "check_call", "check_output", "Popen", "system", "getoutput"}
_RUNS |= {"getstatusoutput", "run_command", "runcmd"}


def python_commands(text: str) -> list[tuple[int, str]]:
    """Commands a Python script runs (``subprocess.run([...])``, ``os.system("...")``)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in _RUNS:
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((node.lineno, first.value))
        elif isinstance(first, ast.List | ast.Tuple):
            words = runners._constant_words(first.elts)
            if words:
                found.append((node.lineno, shlex.join(words)))
    return sorted(found)


def shell_commands(text: str) -> list[tuple[int, str]]:
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if not line.strip().startswith("#")
    ]
    return join_continuations(lines)


def _resolve(project: Project, cwd: str, token: str) -> str | None:
    """The tracked file a script path names, run from ``cwd``."""
    token = token.strip("'\"")
    if not token or any(c in token for c in "$*@:") or token.startswith(("/", "~")):
        return None  # variables, globs, action refs (actions/checkout@v4), URLs
    found = project.find(cwd, token)
    if found is not None:
        return found
    suffix = "/" + posixpath.normpath(token)
    matches = [rel for rel in project.repo.tracked if rel.endswith(suffix)]
    return matches[0] if len(matches) == 1 else None


def _script(project: Project, command: Command, token: str, cwd: str) -> list[Call]:
    rel = _resolve(project, cwd, token)
    if rel is None:
        return []
    text = project.text(rel)
    first = text.split("\n", 1)[0]
    is_python = rel.endswith(".py") or (first.startswith("#!") and "python" in first)
    lines = python_commands(text) if is_python else shell_commands(text)
    found = [command.called(rel, n, line, "script", cwd) for n, line in lines]
    return [Call(f"script:{rel}", found)]


def _action(project: Project, command: Command, path: str, cwd: str) -> list[Call]:
    """A local composite action (``uses: ./.github/actions/setup``)."""
    folder = posixpath.normpath(path.removeprefix("./"))
    rel = project.find("", f"{folder}/action.yml", f"{folder}/action.yaml")
    if rel is None:
        return []
    found = [
        command.called(rel, c.line, c.text, f"action `{folder}`", c.cwd or cwd)
        for c in commands_in(project.repo, rel)
        if c.text != path
    ]
    return [Call(f"action:{rel}", found)]


# --- pre-commit ---

_PRE_COMMIT_VALUES = {"--hook-stage", "--from-ref", "--to-ref", "--source", "--origin", "-c"}
_PRE_COMMIT_VALUES |= {"--config", "--files", "--commit-msg-filename"}


def _pre_commit(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    from_action = words[0].startswith("pre-commit/action@")
    if not from_action and words[1:2] not in ([], ["run"]):
        return []  # pre-commit install, autoupdate...
    config, wanted = ".pre-commit-config.yaml", []
    args = iter(words[2:] if not from_action else [])
    for word in args:
        if word in ("-c", "--config"):
            config = next(args, config)
        elif word in _PRE_COMMIT_VALUES:
            next(args, None)
        elif not word.startswith("-"):
            wanted.append(word)
    rel = project.find(cwd, config)
    if rel is None:
        project.note(command, f"no {config} found")
        return []
    found = []
    for root in yaml_nodes(project.text(rel)):
        repos = mapping_keys(root).get("repos")
        for entry in repos.value if isinstance(repos, yaml.SequenceNode) else []:
            hooks = mapping_keys(entry).get("hooks")
            for hook in hooks.value if isinstance(hooks, yaml.SequenceNode) else []:
                keys = mapping_keys(hook)
                ident = keys.get("id")
                if not isinstance(ident, yaml.ScalarNode):
                    continue
                alias = keys.get("alias")
                names = {ident.value, alias.value if isinstance(alias, yaml.ScalarNode) else None}
                if wanted and not names & set(wanted):
                    continue
                entry_node, args_node = keys.get("entry"), keys.get("args")
                head = entry_node.value if isinstance(entry_node, yaml.ScalarNode) else ident.value
                extra = [
                    str(a.value)
                    for a in getattr(args_node, "value", [])
                    if isinstance(a, yaml.ScalarNode)
                ]
                text = " ".join([str(head), *extra])
                line = ident.start_mark.line + 1
                context = f"pre-commit hook `{ident.value}`"
                found.append(command.called(rel, line, text, context, cwd))
    return [Call(f"pre-commit:{rel}:{','.join(wanted)}", found)]


# --- dispatch ---


def _follow_words(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    head = words[0]
    if head in ("make", "gmake"):
        return _make(project, command, words, cwd)
    if head == "tox":
        return runners.tox(project, command, words, cwd)
    if head == "nox":
        return runners.nox(project, command, words, cwd)
    if head in ("hatch", "pdm"):
        follower = runners.hatch if head == "hatch" else runners.pdm
        calls = follower(project, command, words, cwd)
        inner = None if calls else runners.run_target(words)
        return calls or (_follow_words(project, command, inner, cwd) if inner else [])
    if head == "pipenv" and words[1:2] == ["run"]:
        calls = runners.pipenv(project, command, words, cwd)
        return calls or (_follow_words(project, command, words[2:], cwd) if words[2:] else [])
    if head == "poe" or (head == "poetry" and words[1:2] == ["poe"]):
        return runners.poe(project, command, words[words.index("poe") :], cwd)
    if head in ("npm", "yarn", "pnpm", "bun"):
        return runners.package_scripts(project, command, words, cwd)
    if head in ("pre-commit", "prek") or head.startswith("pre-commit/action@"):
        return _pre_commit(project, command, words, cwd)
    if head in _SHELLS and "-c" in words[1:-1]:  # bash -c "cd api && make test"
        return follow_text(project, command, words[words.index("-c") + 1], cwd)
    if head in _SHELLS or _PYTHON.match(head):
        target = next((w for w in words[1:] if not w.startswith("-")), None)
        if target and "-c" not in words[1:] and (head in _SHELLS or target.endswith(".py")):
            return _script(project, command, target, cwd)
        return []
    if head.endswith((".yml", ".yaml")):
        return []  # a reusable workflow: read as a CI file already
    if "/" in head or head.endswith((".sh", ".py")):
        return _script(project, command, head, cwd) or (
            _action(project, command, head, cwd) if head.startswith("./") else []
        )
    return []


def follow_text(project: Project, command: Command, text: str, cwd: str) -> list[Call]:
    """What a shell line calls, simple command by simple command, tracking ``cd``."""
    found = []
    for words in segments(text):
        words = unwrap(words)
        if not words:
            continue
        if words[0] in ("cd", "pushd") and len(words) > 1 and "$" not in words[1]:
            cwd = _inside(cwd, words[1])
            continue
        found += _follow_words(project, command, words, cwd)
    return found


class _Walk:
    def __init__(self, repo: Repo) -> None:
        self.project = Project(repo)
        self.out: list[Command] = []
        self.truncated = False

    def calls(self, command: Command, seen: frozenset[str]) -> list[Call]:
        found = []
        for call in follow_text(self.project, command, command.text, command.cwd):
            if call.key in seen:
                self.project.note(command, "calls itself again; not followed twice")
            else:
                found.append(call)
        return found

    def visit(self, command: Command, seen: frozenset[str], depth: int) -> None:
        if len(self.out) >= MAX_COMMANDS:
            self.truncated = True
            return
        calls = self.calls(command, seen) if depth < MAX_DEPTH else []
        self.out.append(replace(command, delegates=any(c.commands for c in calls)))
        for call in calls:
            for child in call.commands:
                self.visit(child, seen | {call.key}, depth + 1)


def all_commands(repo: Repo, files: list[tuple[str, str]]) -> tuple[list[Command], list[str]]:
    """Every command the CI files run, directly or through what they call; and notes on
    calls that could not be followed."""
    walk = _Walk(repo)
    for rel, _system in files:
        for command in commands_in(repo, rel):
            walk.visit(command, frozenset(), 0)
    notes = walk.project.notes
    if walk.truncated:
        notes.append(f"stopped following after {MAX_COMMANDS} commands")
    return walk.out, notes
