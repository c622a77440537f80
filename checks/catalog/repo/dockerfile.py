"""The Dockerfile as the repo checks see it, parsed with ``dockerfile-parse`` (no regexes on
the instructions): stages, each stage's base (stage aliases resolved), the final stage's
USER and HEALTHCHECK, and ENV/ARG instructions that bake a secret-looking literal in.

Line numbers are 1-based, as an editor shows them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from dockerfile_parse import DockerfileParser
from dockerfile_parse.parser import image_from
from dockerfile_parse.util import extract_key_values

from checks.catalog.repo.clone import Repo

# Names of variables that hold credentials. Suffixes that name *where* a secret is (a file,
# a path) are fine: ``SECRET_KEY_FILE=/run/secrets/key`` is the recommended pattern.
SECRET_NAME = re.compile(
    r"(PASS(WORD|WD)?|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|"
    r"AUTH|DSN|CONN(ECTION)?_?STR(ING)?)",
    re.IGNORECASE,
)
_LOCATION_SUFFIX = re.compile(r"_(FILE|PATH|DIR|NAME|ENV)$", re.IGNORECASE)
# A URL with a password: scheme://user:password@host
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
_VARIABLE_ONLY = re.compile(
    r"^\$(\{[A-Za-z_][A-Za-z0-9_]*(:?[-+][^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)$"
)
# A final base counts as slim when its name or tag says so (python:3.12-slim, *-alpine,
# gcr.io/distroless/*, cgr.dev/chainguard/*, ubi-minimal/micro) or it is ``scratch``.
_SLIM = re.compile(r"(?<![a-z])(slim|alpine|distroless|chainguard|minimal|micro|wolfi)(?![a-z])")


@dataclass(frozen=True)
class Instruction:
    name: str
    value: str
    line: int  # 1-based


@dataclass
class Stage:
    index: int
    image: str  # as written (variables substituted)
    alias: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def last(self, name: str) -> Instruction | None:
        found = [i for i in self.instructions if i.name == name]
        return found[-1] if found else None


@dataclass(frozen=True)
class BakedSecret:
    instruction: str  # ENV or ARG
    name: str
    line: int


@dataclass
class Dockerfile:
    path: str  # relative to the repository root
    stages: list[Stage]
    baked: list[BakedSecret]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def at(self, line: int) -> str:
        return f"{self.path}:{line}"

    def final_base(self) -> str:
        """The image the final stage really starts from, following ``FROM <stage>``."""
        stage = self.final
        seen = set()
        aliases = {s.alias.lower(): s for s in self.stages if s.alias}
        while stage.image.lower() in aliases and stage.index not in seen:
            seen.add(stage.index)
            earlier = aliases[stage.image.lower()]
            if earlier.index >= stage.index:
                break
            stage = earlier
        return stage.image


class DockerfileMissing(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def load(repo: Repo, rel: str) -> Dockerfile:
    """Parse ``rel`` (relative to the root); DockerfileMissing when absent or unreadable."""
    text = repo.read_text(rel)
    if text is None or not repo.is_tracked(rel):
        raise DockerfileMissing(rel)
    return parse(rel, text)


def parse(path: str, text: str) -> Dockerfile:
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    structure = parser.structure
    images = iter(parser.parent_images)  # one per FROM, variables substituted
    stages: list[Stage] = []
    baked: list[BakedSecret] = []
    for item in structure:
        name = str(item["instruction"]).upper()
        line = int(item["startline"]) + 1
        value = str(item["value"])
        if name == "FROM":
            _image, alias = image_from(value)
            stages.append(Stage(len(stages), next(images, "") or "", alias, line))
            continue
        if name in ("ENV", "ARG"):
            baked.extend(_baked(name, value, line))
        if stages:
            stages[-1].instructions.append(Instruction(name, value, line))
    return Dockerfile(path, stages, baked)


def _baked(instruction: str, value: str, line: int) -> list[BakedSecret]:
    try:
        pairs = extract_key_values(env_replace=False, args={}, envs={}, instruction_value=value)
    except (ValueError, IndexError):
        return []
    found = []
    for key, raw in pairs:
        literal = raw.strip()
        if not literal or _VARIABLE_ONLY.match(literal):
            continue  # no value, or taken from a build arg / the environment at run time
        named = SECRET_NAME.search(key) is not None and not _LOCATION_SUFFIX.search(key)
        if named or _URL_WITH_PASSWORD.match(literal):
            found.append(BakedSecret(instruction, key, line))
    return found


def is_slim(image: str) -> bool:
    name = image.lower().split("@", 1)[0]
    return name == "scratch" or _SLIM.search(name) is not None


def is_root_user(value: str) -> bool:
    """USER root, 0, root:group, 0:0 — or nothing at all."""
    user = value.strip().split(":", 1)[0].strip()
    return user in ("", "root", "0")
