"""Task runners a CI step may call, read from the project's own configuration.

Each follower takes the words of one shell command (``tox -e lint``, ``hatch run test:cov``,
``pdm run test``...) and returns the commands it runs, each keeping its own file and line:
tox (tox.ini, ``[tool.tox]`` legacy or native, tox.toml, setup.cfg), nox (noxfile.py, read
with ``ast``, never imported), hatch env scripts, PDM scripts, poethepoet tasks, npm/yarn/pnpm
package scripts and Pipfile scripts. ``[tool.poetry.scripts]`` is not followed: those are
console entry points (Python functions), not shell commands; ``poetry run X`` is judged as X.
Nothing from the repository is executed. Named scripts that refer to each other are expanded
inline, bounded by ``MAX_REFS`` and a seen-set, so a script that names itself ends.
"""

from __future__ import annotations

import ast
import configparser
import itertools
import json
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from checks.catalog.repo.ci import Command
from checks.catalog.repo.clone import Repo

MAX_REFS = 40  # named scripts expanded inline per call
MAX_NOTES = 20


@dataclass(frozen=True)
class Call:
    """Something a command calls that was followed: its key (for cycles) and what it runs."""

    key: str
    commands: list[Command]


def short(text: str, size: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


class Project:
    """Read access to the clone for the followers, and the notes on calls not followed."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.notes: list[str] = []
        self._toml: dict[str, dict[str, Any]] = {}

    def find(self, cwd: str, *names: str) -> str | None:
        """The first tracked ``name`` in the command's folder, ``repo.subdir`` or the root."""
        for folder in dict.fromkeys([cwd, self.repo.subdir or "", ""]):
            for name in names:
                rel = posixpath.normpath(posixpath.join(folder, name))
                if not rel.startswith("..") and self.repo.is_tracked(rel):
                    return rel
        return None

    def text(self, rel: str) -> str:
        return self.repo.read_text(rel) or ""

    def toml(self, rel: str) -> dict[str, Any]:
        if rel not in self._toml:
            try:
                self._toml[rel] = tomllib.loads(self.text(rel))
            except tomllib.TOMLDecodeError:
                self._toml[rel] = {}
        return self._toml[rel]

    def note(self, command: Command, message: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(f"{command.where()} `{short(command.text)}`: {message}")


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def key_line(text: str, table: str, key: str) -> int:
    """Line of ``key = ...`` in the TOML ``[table]`` (or of a ``[table.key]`` header)."""
    current, fallback = None, 1
    quoted = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*[=.]""")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped.strip("[]").replace('"', "").replace("'", "").strip()
            if current == table:
                fallback = number
            if current == f"{table}.{key}":
                return number
        elif current == table and quoted.match(line):
            return number
    return fallback


def _joined(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return shlex.join(value)
    return None


# Resolves a script name to its steps: (line, text, None) runs ``text``; (line, args, name)
# runs the script ``name`` with the extra ``args``.
Resolver = Callable[[str], list[tuple[int, str, str | None]]]
_ARGS = re.compile(r"\{args(?::([^}]*))?\}")


def _with_args(text: str, extra: str) -> str:
    """Extra arguments go where ``{args}`` stands (hatch), else at the end (pdm, poe)."""
    if _ARGS.search(text):
        return _ARGS.sub(lambda m: extra or m.group(1) or "", text).strip()
    return f"{text} {extra}".strip()


def _ref(line: int, item: str, names: Iterable[str]) -> tuple[int, str, str | None]:
    """A step that is either another script's name (with extra args) or a command."""
    head, _sep, rest = item.strip().partition(" ")
    return (line, rest.strip(), head) if head in names else (line, item, None)


def _named(
    command: Command,
    where: tuple[str, str],
    context: str,
    resolve: Resolver,
    name: str,
    extra: str = "",
) -> list[Command]:
    """Expand a named script (and the scripts it names) into commands, bounded."""
    rel, cwd = where
    found: list[Command] = []
    seen: set[tuple[str, str]] = set()

    def visit(current: str, args: str) -> None:
        if (current, args) in seen or len(seen) >= MAX_REFS:
            return
        seen.add((current, args))
        for line, text, ref in resolve(current):
            if ref is not None:
                visit(ref, text)
            else:
                step = _with_args(text, args)
                found.append(command.called(rel, line, step, context.format(current), cwd))

    visit(name, extra)
    return found


def _options_then(words: list[str], with_value: set[str]) -> list[str]:
    """The words after the leading options (``with_value`` options take the next word)."""
    index = 0
    while index < len(words) and words[index].startswith(("-", "+")):
        index += 2 if words[index] in with_value else 1
    return words[index:]


# --- PDM ---

_PDM_COMMANDS = {
    *("add", "build", "cache", "completion", "config", "export", "fix", "import", "info"),
    *("init", "install", "list", "lock", "outdated", "plugin", "publish", "python", "py"),
    *("remove", "search", "self", "show", "sync", "update", "use", "venv", "new"),
}


def pdm(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    args = words[1:]
    if args and args[0] == "run":
        args = _options_then(args[1:], {"-p", "--project", "--venv", "-r", "--reporter"})
    elif not args or args[0] in _PDM_COMMANDS or args[0].startswith("-"):
        return []
    rel = project.find(cwd, "pyproject.toml")
    scripts = _dig(project.toml(rel), "tool", "pdm", "scripts") if rel else None
    if not args or not isinstance(scripts, dict) or args[0] not in scripts:
        return []
    text = project.text(rel or "")

    def resolve(name: str) -> list[tuple[int, str, str | None]]:
        steps: list[tuple[int, str, str | None]] = []
        for part in (f"pre_{name}", name, f"post_{name}"):
            value = scripts.get(part)
            line = key_line(text, "tool.pdm.scripts", part)
            if part != name and value is not None:
                steps.append((line, "", part))
                continue
            if isinstance(value, dict):
                composite = value.get("composite")
                if isinstance(composite, list):
                    steps += [_ref(line, str(item), scripts) for item in composite]
                    continue
                value = _joined(value.get("cmd")) or _joined(value.get("shell"))
            value = _joined(value)
            if value:
                steps.append((line, value, None))
        return steps

    extra = shlex.join(args[1:])
    found = _named(command, (rel or "", cwd), "pdm script `{}`", resolve, args[0], extra)
    return [Call(f"pdm:{rel}:{args[0]}", found)]


# --- poethepoet ---


def poe(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    args = _options_then(words[1:], {"-C", "--directory", "--root", "--executor"})
    rel = project.find(cwd, "pyproject.toml")
    tasks = _dig(project.toml(rel), "tool", "poe", "tasks") if rel else None
    if not args or not isinstance(tasks, dict) or args[0] not in tasks:
        return []
    text = project.text(rel or "")

    def steps_of(value: Any, line: int) -> list[tuple[int, str, str | None]]:
        if isinstance(value, str):
            return [(line, value, None)]
        if isinstance(value, list):  # a sequence: strings refer to tasks by default
            found: list[tuple[int, str, str | None]] = []
            for item in value:
                if isinstance(item, str):
                    found.append(_ref(line, item, tasks))
                else:
                    found += steps_of(item, line)
            return found
        if isinstance(value, dict):
            if isinstance(value.get("ref"), str):
                return [_ref(line, value["ref"], tasks)]
            if "sequence" in value:
                return steps_of(value["sequence"], line)
            for key in ("cmd", "shell"):
                text_value = _joined(value.get(key))
                if text_value:
                    return [(line, part, None) for part in text_value.splitlines() if part.strip()]
        return []

    def resolve(name: str) -> list[tuple[int, str, str | None]]:
        return steps_of(tasks.get(name), key_line(text, "tool.poe.tasks", name))

    extra = shlex.join(args[1:])
    found = _named(command, (rel or "", cwd), "poe task `{}`", resolve, args[0], extra)
    return [Call(f"poe:{rel}:{args[0]}", found)]


# --- hatch ---


def _hatch_envs(project: Project, cwd: str) -> tuple[str | None, str, dict[str, Any]]:
    rel = project.find(cwd, "hatch.toml")
    if rel:
        return rel, "envs", _dig(project.toml(rel), "envs") or {}
    rel = project.find(cwd, "pyproject.toml")
    envs = _dig(project.toml(rel), "tool", "hatch", "envs") if rel else None
    return rel, "tool.hatch.envs", envs if isinstance(envs, dict) else {}


def hatch(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    """``hatch run [env:]script``; a target that names no script is judged as a command."""
    env = "default"
    args = words[1:]
    while args and args[0].startswith("-"):
        if args[0] in ("-e", "--env") and len(args) > 1:
            env = args[1]
            args = args[2:]
        else:
            args = args[1:]
    if not args or args[0] != "run":
        return []
    args = _options_then(args[1:], set())
    if not args:
        return []
    target = args[0]
    if ":" in target:
        env, target = target.split(":", 1)
    env = env.split(".", 1)[0]  # matrix variants (test.py3.12) share their scripts
    rel, prefix, envs = _hatch_envs(project, cwd)
    if rel is None:
        return []
    given = envs.get(env)
    table: dict[str, Any] = given if isinstance(given, dict) else {}
    scripts: dict[str, tuple[str, Any]] = {}
    template = table.get("template", "default")
    if env != "default" and template != "none" and isinstance(envs.get(template), dict):
        for name, value in (envs[template].get("scripts") or {}).items():
            scripts[name] = (f"{prefix}.{template}.scripts", value)
    for name, value in (table.get("scripts") or {}).items():
        scripts[name] = (f"{prefix}.{env}.scripts", value)
    if target not in scripts:
        return []
    text = project.text(rel)

    def resolve(name: str) -> list[tuple[int, str, str | None]]:
        where, value = scripts[name]
        line = key_line(text, where, name)
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [_ref(line, str(item), scripts) for item in items]

    extra = shlex.join(args[1:])
    found = _named(command, (rel, cwd), f"hatch script `{env}:{{}}`", resolve, target, extra)
    return [Call(f"hatch:{rel}:{env}:{target}", found)]


def run_target(words: list[str]) -> list[str] | None:
    """For ``hatch run X``, ``pdm run X``, ``poetry run X``, ``uv run X``...: the words of X."""
    if len(words) < 2:
        return None
    if words[0] == "hatch" or words[0] == "pdm":
        index = words.index("run") if "run" in words else -1
        if index < 0:
            return None
        rest = _options_then(words[index + 1 :], {"-p", "--project"})
        if rest and words[0] == "hatch" and ":" in rest[0] and "/" not in rest[0]:
            rest = [rest[0].split(":", 1)[1], *rest[1:]]
        return rest
    if words[1] != "run":
        return None
    with_value = {"--with", "--extra", "--group", "--python", "-p", "--package", "--directory"}
    with_value |= {"--project", "--env-file", "--only-group", "--index", "-C", "-n", "--name"}
    return _options_then(words[2:], with_value)


# --- npm, yarn, pnpm, bun ---

_NPM_SHORT = {"test": "test", "t": "test", "tst": "test", "start": "start"}
_NPM_COMMANDS = {"install", "i", "ci", "add", "audit", "exec", "dlx", "npx", "publish", "pack"}


def package_scripts(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    args = _options_then(words[1:], {"--prefix", "-C", "--cwd", "--filter", "-w", "--workspace"})
    if not args:
        return []
    if args[0] in ("run", "run-script"):
        args = _options_then(args[1:], set())
        name = args[0] if args else None
    elif args[0] in _NPM_SHORT:
        name = _NPM_SHORT[args[0]]
    elif words[0] != "npm" and args[0] not in _NPM_COMMANDS:
        name = args[0]  # yarn test, pnpm lint, bun run-less
    else:
        return []
    rel = project.find(cwd, "package.json")
    try:
        data = json.loads(project.text(rel)) if rel else {}
    except ValueError:
        data = {}
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if not name or not isinstance(scripts, dict) or name not in scripts:
        return []
    lines = project.text(rel or "").splitlines()

    def line_of(key: str) -> int:
        mark = json.dumps(key) + ":"
        return next((n for n, line in enumerate(lines, 1) if mark in line.replace('": ', '":')), 1)

    found = [
        command.called(rel or "", line_of(key), str(scripts[key]), f"npm script `{key}`", cwd)
        for key in (f"pre{name}", name, f"post{name}")
        if isinstance(scripts.get(key), str)
    ]
    return [Call(f"npm:{rel}:{name}", found)]


def pipenv(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    args = words[2:] if words[1:2] == ["run"] else []
    rel = project.find(cwd, "Pipfile")
    scripts = _dig(project.toml(rel), "scripts") if rel else None
    if not args or not isinstance(scripts, dict) or not isinstance(scripts.get(args[0]), str):
        return []
    line = key_line(project.text(rel or ""), "scripts", args[0])
    context = f"Pipfile script `{args[0]}`"
    found = [command.called(rel or "", line, scripts[args[0]], context, cwd)]
    return [Call(f"pipenv:{rel}:{args[0]}", found)]


# --- tox ---


def expand_braces(text: str) -> list[str]:
    """``py{311,312}-cov`` → ``py311-cov``, ``py312-cov`` (no nesting; bounded)."""
    parts = re.split(r"(\{[^{}]*\})", text)
    choices = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
    combos = itertools.islice(itertools.product(*choices), 64)
    return ["".join(c).strip() for c in combos]


def _split_list(value: str) -> list[str]:
    """An env list: comma or newline separated, commas inside braces kept."""
    items = re.split(r",(?![^{]*\})|\n", value)
    return [name for item in items for name in expand_braces(item.strip()) if name]


def ini_sections(text: str, offset: int = 0) -> dict[str, dict[str, list[tuple[int, str]]]]:
    """INI sections → key → (line, value line): configparser drops line numbers."""
    data: dict[str, dict[str, list[tuple[int, str]]]] = {}
    section: str | None = None
    key: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1 + offset):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if raw.startswith("["):
            section, key = stripped[1 : stripped.find("]")].strip(), None
            data.setdefault(section, {})
        elif raw[0] in " \t" and section is not None and key is not None:
            data[section][key].append((number, stripped))
        elif section is not None and "=" in raw:
            name, value = raw.split("=", 1)
            key = name.strip().lower()
            data[section][key] = [(number, value.strip())] if value.strip() else []
    return data


_FACTOR_CONDITION = re.compile(r"^([!\w.,{}\-]+):\s+(.*)$")


def _applies(condition: str, factors: set[str]) -> bool:
    alternatives = [
        expanded
        for part in re.split(r",(?![^{]*\})", condition)
        for expanded in expand_braces(part)
    ]
    for alternative in alternatives:
        wanted = alternative.split("-")
        if all((f[1:] not in factors) if f.startswith("!") else (f in factors) for f in wanted):
            return True
    return False


def _tox_text(line: str, env: str | None) -> str | None:
    """A tox command line with its factor condition judged and substitutions simplified."""
    match = _FACTOR_CONDITION.match(line)
    if match:
        if env is not None and not _applies(match.group(1), set(env.split("-"))):
            return None
        line = match.group(2)
    line = re.sub(r"\{posargs:([^}]*)\}", r"\1", line).replace("{posargs}", "")
    return line.lstrip("-! ").strip() or None


@dataclass
class _ToxConfig:
    rel: str
    envs: list[str]
    # env name (or "" for the base env) → (line, command) lines
    commands: dict[str, list[tuple[int, str]]]


def _tox_ini(rel: str, text: str, offset: int = 0, prefix: str = "") -> _ToxConfig:
    sections = ini_sections(text, offset)
    tox = sections.get(f"{prefix}tox", sections.get("tox", {}))
    listed = tox.get("envlist") or tox.get("env_list") or []
    envs = _split_list("\n".join(value for _n, value in listed))
    commands: dict[str, list[tuple[int, str]]] = {}
    for name, keys in sections.items():
        if name == "testenv" or name.startswith("testenv:"):
            lines = [*keys.get("commands_pre", []), *keys.get("commands", [])]
            lines += keys.get("commands_post", [])
            env_names = [""] if name == "testenv" else expand_braces(name.split(":", 1)[1])
            for env in env_names:
                if "commands" in keys or env == "":
                    commands[env] = lines
    return _ToxConfig(rel, envs, commands)


def _tox_native(rel: str, text: str, data: dict[str, Any], table: str) -> _ToxConfig:
    prefix = f"{table}." if table else ""
    listed = data.get("env_list") or data.get("envlist") or []
    envs = [e for e in listed if isinstance(e, str)] if isinstance(listed, list) else []
    commands: dict[str, list[tuple[int, str]]] = {}
    tables = [("", data.get("env_run_base"), f"{prefix}env_run_base")]
    for name, body in (data.get("env") or {}).items():
        tables.append((name, body, f"{prefix}env.{name}"))
    for env, body, where in tables:
        if not isinstance(body, dict) or "commands" not in body:
            continue
        line = key_line(text, where, "commands")
        items = body["commands"] if isinstance(body["commands"], list) else []
        commands[env] = [(line, c) for c in (_joined(i) for i in items) if c]
    return _ToxConfig(rel, envs, commands)


def _tox_config(project: Project, cwd: str, option: str | None) -> _ToxConfig | None:
    names = [option] if option else ["tox.ini", "tox.toml", "pyproject.toml", "setup.cfg"]
    for name in names:
        rel = project.find(cwd, name)
        if rel is None:
            continue
        text = project.text(rel)
        if rel.endswith("tox.ini"):
            return _tox_ini(rel, text)
        if rel.endswith("setup.cfg"):
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read_string(text)
            except configparser.Error:
                continue
            if parser.has_section("tox:tox") or parser.has_section("testenv"):
                return _tox_ini(rel, text, prefix="tox:")
            continue
        data = project.toml(rel)
        if rel.endswith("tox.toml"):
            return _tox_native(rel, text, data, "")
        tool = _dig(data, "tool", "tox")
        if isinstance(tool, dict) and isinstance(tool.get("legacy_tox_ini"), str):
            offset = key_line(text, "tool.tox", "legacy_tox_ini")
            return _tox_ini(rel, tool["legacy_tox_ini"], offset=offset)
        if isinstance(tool, dict):
            return _tox_native(rel, text, tool, "tool.tox")
    return None


def tox(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    wanted: list[str] = []
    every, option = False, None
    args = words[1:]
    for index, word in enumerate(args):
        value = args[index + 1] if index + 1 < len(args) else ""
        if word in ("-e", "--env") or word.startswith(("-e=", "--env=")):
            given = word.split("=", 1)[1] if "=" in word else value
            wanted += _split_list(given)
        elif word.startswith("-e") and len(word) > 2:
            wanted += _split_list(word[2:])
        elif word in ("-c", "--conf"):
            option = value
        elif word in ("-m", "--labels", "-f", "--factors"):
            every = True
    config = _tox_config(project, cwd, option)
    if config is None:
        project.note(command, "no tox configuration found")
        return []
    if "ALL" in wanted or every:
        wanted = config.envs or [name for name in config.commands if name]
    wanted = wanted or config.envs or ["py"]
    found: list[Command] = []
    for env in dict.fromkeys(wanted):
        lines = config.commands.get(env, config.commands.get("", []))
        for number, line in lines:
            text = _tox_text(line, env)
            if text:
                context = f"tox env `{env}`"
                found.append(command.called(config.rel, number, text, context, cwd))
    return [Call(f"tox:{config.rel}:{','.join(wanted)}", found)]


# --- nox ---


def _is_session_decorator(node: ast.expr) -> tuple[bool, str | None]:
    target = node.func if isinstance(node, ast.Call) else node
    named = None
    if isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                named = str(keyword.value.value)
    is_session = (isinstance(target, ast.Attribute) and target.attr == "session") or (
        isinstance(target, ast.Name) and target.id == "session"
    )
    return is_session, named


def _constant_words(args: Iterable[ast.expr]) -> list[str]:
    return [str(a.value) for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


@dataclass
class _NoxSession:
    commands: list[tuple[int, str]]
    notifies: list[str]


def _nox_sessions(text: str) -> tuple[dict[str, _NoxSession], list[str]]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}, []
    sessions: dict[str, _NoxSession] = {}
    defaults: list[str] = []
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Attribute) and t.attr == "sessions" for t in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            defaults = _constant_words(node.value.elts)
        if not isinstance(node, ast.FunctionDef) or not node.args.args:
            continue
        marks = [_is_session_decorator(d) for d in node.decorator_list]
        if not any(is_session for is_session, _name in marks):
            continue
        name = next((n for _s, n in marks if n), node.name)
        param = node.args.args[0].arg
        session = _NoxSession([], [])
        for call in ast.walk(node):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
                continue
            owner = call.func.value
            if not (isinstance(owner, ast.Name) and owner.id == param):
                continue
            if call.func.attr in ("run", "run_always"):
                words = _constant_words(call.args)
                if words:
                    session.commands.append((call.lineno, shlex.join(words)))
            elif call.func.attr == "notify":
                session.notifies += _constant_words(call.args[:1])
        sessions[name] = session
    return sessions, defaults


def nox(project: Project, command: Command, words: list[str], cwd: str) -> list[Call]:
    wanted: list[str] = []
    every, config, collecting = False, "noxfile.py", False
    for index, word in enumerate(words[1:], start=1):
        if word in ("-s", "-e", "--session", "--sessions"):
            collecting = True
        elif word in ("-k", "-t", "--tags", "--keywords"):
            every, collecting = True, False
        elif word in ("-f", "--noxfile") and index + 1 < len(words):
            config, collecting = words[index + 1], False
        elif word.startswith("-"):
            collecting = False
        elif collecting:
            wanted.append(word)
    rel = project.find(cwd, config)
    if rel is None:
        project.note(command, f"no {config} found")
        return []
    sessions, defaults = _nox_sessions(project.text(rel))
    names = list(sessions) if every else wanted or defaults or list(sessions)
    found: list[Command] = []
    seen: set[str] = set()
    queue = [re.sub(r"-\d[\d.]*$|\(.*\)$", "", n) for n in names]
    while queue and len(seen) < MAX_REFS:
        name = queue.pop(0)
        if name in seen or name not in sessions:
            continue
        seen.add(name)
        for number, text in sessions[name].commands:
            found.append(command.called(rel, number, text, f"nox session `{name}`", cwd))
        queue += sessions[name].notifies
    return [Call(f"nox:{rel}:{','.join(sorted(seen))}", found)]
