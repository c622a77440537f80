"""Backstage entity descriptors: YAML in, checked entities (or a reason each is refused) out.

No Django here: the same code reads files from a directory or a clone and entities from a
Backstage catalog's API. The rules are Backstage's own where it has them (the entity envelope,
``metadata.name``'s grammar, entity references, a Component's required ``spec`` fields) and
Preflight's where it needs more (an owner must be a group, links must be http(s)).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
KINDS_IMPORTED = ("component", "group")
# Read (their names are checked) but not imported into Preflight: counted as ignored.
KINDS_KNOWN = ("system", "user", "api", "resource", "domain", "template", "location")
# Backstage: 1-63 chars, [a-zA-Z0-9] runs separated by one of - _ .
_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[-_.][a-zA-Z0-9]+)*$")
_NAMESPACE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ALIASES = 50  # YAML aliases per document: enough for real files, not for an alias bomb


class Refused(Exception):
    """This entity (or document) is not imported; ``reason`` says why."""

    def __init__(self, reason: str, ref: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.ref = ref


@dataclass(frozen=True)
class Refusal:
    where: str  # file and document number, or the API page and position
    ref: str  # the entity ref when it could be read, else ""
    reason: str


@dataclass(frozen=True)
class EntityRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"


def parse_ref(
    text: Any, *, default_kind: str | None, default_namespace: str = "default"
) -> EntityRef:
    """``[kind:][namespace/]name`` (Backstage's entity reference), lower-cased: references
    compare case-insensitively. Raises ValueError with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty or not a string")
    rest = text.strip()
    kind = default_kind
    if ":" in rest:
        kind, rest = rest.split(":", 1)
    namespace = default_namespace
    if "/" in rest:
        namespace, rest = rest.split("/", 1)
    if not kind:
        raise ValueError(f"{text!r} names no kind")
    if not _NAME.match(rest) or len(rest) > 63:
        raise ValueError(f"{text!r}: {rest!r} is not a valid entity name")
    if not _NAME.match(namespace) or len(namespace) > 63:
        raise ValueError(f"{text!r}: {namespace!r} is not a valid namespace")
    return EntityRef(kind.lower(), namespace.lower(), rest.lower())


@dataclass(frozen=True)
class Link:
    url: str
    title: str = ""
    type: str = ""
    icon: str = ""


@dataclass(frozen=True)
class Entity:
    """One checked entity, with what Preflight takes from it."""

    ref: EntityRef
    title: str
    description: str
    # Component
    owner: EntityRef | None = None
    lifecycle: str = ""
    type: str = ""
    system: str = ""
    links: tuple[Link, ...] = ()
    source_location: str = ""
    # Group
    display_name: str = ""
    # Location
    targets: tuple[str, ...] = ()
    raw_kind: str = ""
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        return self.ref.kind


# --- YAML ------------------------------------------------------------------------------------


# libyaml when PyYAML was built with it (the wheels are): some fifteen times faster.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _alias_heavy(text: str) -> set[int]:
    """Documents (numbered from 1) with more than MAX_ALIASES aliases: an alias bomb expands
    to gigabytes from a few hundred bytes. Counted on the event stream, before anything is
    built."""
    heavy: set[int] = set()
    index = aliases = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.DocumentStartEvent):
                index, aliases = index + 1, 0
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    heavy.add(index)
    except yaml.YAMLError:
        pass  # the reading below meets the same error at the same document and says so
    return heavy


def documents(text: str, where: str) -> Iterator[tuple[str, Any] | Refusal]:
    """Each YAML document of a file as (where, data), or a Refusal for one that does not
    parse (the documents before it are still given; YAML cannot resume after a syntax error)
    or that holds an alias bomb (skipped unbuilt; the next documents are read)."""
    heavy = _alias_heavy(text)
    loader = _LOADER(text)
    index = parsing = 0
    try:
        while True:
            parsing = index + 1  # the document a syntax error is in
            if not loader.check_node():
                break
            index = parsing
            if index in heavy:
                loader.get_node()  # composed (aliases stay references), never constructed
                yield Refusal(f"{where}#{index}", "", f"more than {MAX_ALIASES} YAML aliases")
                continue
            data = loader.get_data()
            if data is None:
                continue  # an empty document (a trailing ---)
            yield f"{where}#{index}", data
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        yield Refusal(f"{where}#{parsing}", "", f"not valid YAML{line}: {str(problem)[:200]}")
    finally:
        loader.dispose()


# --- entities ----------------------------------------------------------------------------------


def _str(value: Any, what: str, *, required: bool = False, limit: int = 1000) -> str:
    if value is None:
        if required:
            raise Refused(f"{what} is missing")
        return ""
    if not isinstance(value, str):
        raise Refused(f"{what} is not a string")
    if required and not value.strip():
        raise Refused(f"{what} is empty")
    return value.strip()[:limit]


def _links(metadata: dict[str, Any]) -> tuple[Link, ...]:
    raw = metadata.get("links")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Refused("metadata.links is not a list")
    links = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise Refused(f"metadata.links[{i}] is not a mapping")
        url = _str(item.get("url"), f"metadata.links[{i}].url", required=True, limit=500)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Refused(f"metadata.links[{i}].url is not an http(s) URL")
        links.append(
            Link(
                url=url,
                title=_str(item.get("title"), f"metadata.links[{i}].title", limit=200),
                type=_str(item.get("type"), f"metadata.links[{i}].type", limit=100),
                icon=_str(item.get("icon"), f"metadata.links[{i}].icon", limit=100),
            )
        )
    return tuple(links)


def _location_url(value: str) -> str:
    """``url:https://...`` (Backstage's location annotation form) as the URL, or ""."""
    kind, _, target = value.partition(":")
    if kind == "url" and urlsplit(target).scheme in ("http", "https"):
        return target
    return ""


def _techdocs_link(annotations: dict[str, str], source: str) -> Link | None:
    ref = annotations.get("backstage.io/techdocs-ref", "")
    kind, _, target = ref.partition(":")
    url = ""
    if kind == "url":
        url = _location_url(ref)
    elif kind == "dir" and source:
        url = urljoin(source if source.endswith("/") else source + "/", target)
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return None
    return Link(url=url, title="TechDocs", type="techdocs")


def entity(data: Any) -> Entity:
    """Check one entity; raises Refused with the reason (and the ref when it got that far)."""
    if not isinstance(data, dict):
        raise Refused("the document is not a mapping (an entity has apiVersion, kind, metadata)")
    api_version = data.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise Refused(f"apiVersion {str(api_version)[:60]!r} is not a Backstage entity version")
    kind = _str(data.get("kind"), "kind", required=True, limit=63)
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        raise Refused("metadata is missing or not a mapping")
    name = _str(metadata.get("name"), "metadata.name", required=True, limit=200)
    namespace = _str(metadata.get("namespace"), "metadata.namespace", limit=200) or "default"
    if not _NAME.match(name) or len(name) > 63:
        raise Refused(
            f"metadata.name {name!r} is not valid (1-63 letters or digits, separated by - _ .)"
        )
    if not _NAMESPACE.match(namespace.lower()) or len(namespace) > 63:
        raise Refused(f"metadata.namespace {namespace!r} is not valid")
    ref = EntityRef(kind.lower(), namespace.lower(), name.lower())
    try:
        return _entity(data, ref, metadata)
    except Refused as exc:
        raise Refused(exc.reason, str(ref)) from None


def _entity(data: dict[str, Any], ref: EntityRef, metadata: dict[str, Any]) -> Entity:
    spec = data.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise Refused("spec is not a mapping")
    raw_annotations = metadata.get("annotations") or {}
    if not isinstance(raw_annotations, dict):
        raise Refused("metadata.annotations is not a mapping")
    annotations = {str(k): str(v) for k, v in raw_annotations.items() if isinstance(v, str)}
    common = Entity(
        ref=ref,
        title=_str(metadata.get("title"), "metadata.title", limit=100),
        description=_str(metadata.get("description"), "metadata.description", limit=2000),
        raw_kind=str(data.get("kind")),
        annotations=annotations,
    )
    if ref.kind == "component":
        for key in ("type", "lifecycle", "owner"):
            _str(spec.get(key), f"spec.{key}", required=True)
        try:
            owner = parse_ref(spec["owner"], default_kind="group", default_namespace=ref.namespace)
        except ValueError as exc:
            raise Refused(f"spec.owner {exc}") from None
        if owner.kind != "group":
            raise Refused(
                f"spec.owner {owner} is a {owner.kind}: Preflight services belong to teams (groups)"
            )
        system = ""
        if spec.get("system") is not None:
            try:
                system = str(
                    parse_ref(
                        spec["system"], default_kind="system", default_namespace=ref.namespace
                    )
                )
            except ValueError as exc:
                raise Refused(f"spec.system {exc}") from None
        links = _links(metadata)
        source = _location_url(annotations.get("backstage.io/source-location", ""))
        techdocs = _techdocs_link(annotations, source)
        return replace(
            common,
            owner=owner,
            lifecycle=_str(spec["lifecycle"], "spec.lifecycle", limit=63),
            type=_str(spec["type"], "spec.type", limit=63),
            system=system,
            links=links + ((techdocs,) if techdocs else ()),
            source_location=annotations.get("backstage.io/source-location", "")[:500],
        )
    if ref.kind == "group":
        _str(spec.get("type"), "spec.type", required=True)
        profile = spec.get("profile") or {}
        if not isinstance(profile, dict):
            raise Refused("spec.profile is not a mapping")
        if not isinstance(spec.get("children", []), list):
            raise Refused("spec.children is not a list")
        return replace(
            common,
            display_name=_str(profile.get("displayName"), "spec.profile.displayName", limit=100),
        )
    if ref.kind == "location":
        targets: list[str] = []
        if spec.get("target") is not None:
            targets.append(_str(spec["target"], "spec.target", required=True, limit=1000))
        raw = spec.get("targets") or []
        if not isinstance(raw, list):
            raise Refused("spec.targets is not a list")
        for i, target in enumerate(raw):
            targets.append(_str(target, f"spec.targets[{i}]", required=True, limit=1000))
        if not targets:
            raise Refused("a Location needs spec.target or spec.targets")
        kind = _str(spec.get("type"), "spec.type", limit=20) or "url"
        return replace(common, targets=tuple(targets), type=kind)
    if ref.kind == "user" and not isinstance(spec.get("memberOf", []), list):
        raise Refused("spec.memberOf is not a list")
    return common
