"""Reading checklist template data files (checklists/<key>/v<N>.toml) into plain data,
validated with messages that name the offending entry. No database access here."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)?$")
_CHECK_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


class TemplateFileError(ValueError):
    pass


# What a check proves about the item it is mapped to:
#   verifies  the check proves the item: its pass ticks the item, its failure fails it, and the
#             launch gate requires it to have passed (or an exemption naming it);
#   supports  evidence only: its result shows on the item's row, a person decides the tick.
VERIFIES = "verifies"
SUPPORTS = "supports"
ROLES = (VERIFIES, SUPPORTS)
_MAPPING_FIELDS = {"key", "role"}


@dataclass(frozen=True)
class CheckMapping:
    """One item -> check mapping of a template. A table in the file (``{ key, role }``), so
    later fields (weights, levels) can join it; a bare key string means ``verifies`` (what
    every mapping meant before roles existed, in v1 files)."""

    key: str
    role: str = VERIFIES


@dataclass(frozen=True)
class ItemData:
    key: str
    title: str
    guidance: str
    blocking: bool
    evidence_required: bool
    valid_days: int
    mappings: list[CheckMapping] = field(default_factory=list)

    @property
    def checks(self) -> list[str]:
        """Every mapped check key, in file order."""
        return [m.key for m in self.mappings]

    @property
    def roles(self) -> dict[str, str]:
        return {m.key: m.role for m in self.mappings}

    @property
    def verify_keys(self) -> list[str]:
        return [m.key for m in self.mappings if m.role == VERIFIES]


@dataclass(frozen=True)
class SectionData:
    key: str
    title: str
    items: list[ItemData]


@dataclass(frozen=True)
class StepData:
    step: int
    key: str
    title: str
    guidance: str
    checks: list[str]


@dataclass(frozen=True)
class TemplateData:
    key: str
    version: int
    name: str
    description: str
    source: str
    sections: list[SectionData]
    runbook: list[StepData]

    @property
    def item_keys(self) -> list[str]:
        return [item.key for section in self.sections for item in section.items]


def _req(table: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in table:
        raise TemplateFileError(f"{where}.{name}: missing")
    value = table[name]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise TemplateFileError(f"{where}.{name}: must be {kind.__name__}")
    return value


def _checks(table: dict[str, Any], where: str) -> list[str]:
    checks = table.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise TemplateFileError(f"{where}.checks: must be a list of check keys")
    return checks


def _mappings(table: dict[str, Any], where: str) -> list[CheckMapping]:
    """An item's ``checks``: each a table ``{ key = "...", role = "verifies" | "supports" }``
    or, as in v1 files, a bare key (``verifies``)."""
    raw = table.get("checks", [])
    if not isinstance(raw, list):
        raise TemplateFileError(f"{where}.checks: must be a list of {{ key, role }} tables")
    mappings: list[CheckMapping] = []
    for index, entry in enumerate(raw):
        at = f"{where}.checks[{index}]"
        if isinstance(entry, str):
            mapping = CheckMapping(entry)
        elif isinstance(entry, dict):
            unknown = sorted(set(entry) - _MAPPING_FIELDS)
            if unknown:
                raise TemplateFileError(f"{at}: unknown field(s) {', '.join(unknown)}")
            key = _req(entry, "key", str, at)
            role = _req(entry, "role", str, at)
            if role not in ROLES:
                raise TemplateFileError(f"{at}.role: {role!r} is not one of {', '.join(ROLES)}")
            mapping = CheckMapping(key, role)
        else:
            raise TemplateFileError(f"{at}: must be a {{ key, role }} table or a check key")
        if not _CHECK_KEY.match(mapping.key):
            raise TemplateFileError(f"{at}.key: {mapping.key!r} is not a check key")
        if mapping.key in {m.key for m in mappings}:
            raise TemplateFileError(f"{at}.key: {mapping.key!r} is mapped twice")
        mappings.append(mapping)
    return mappings


def parse_template(text: str) -> TemplateData:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateFileError(f"not valid TOML: {exc}") from None
    head = doc.get("template")
    if not isinstance(head, dict):
        raise TemplateFileError("[template]: missing")
    seen: set[str] = set()
    sections = []
    for s_index, raw_section in enumerate(doc.get("sections", [])):
        where = f"sections[{s_index}]"
        items = []
        for i_index, raw in enumerate(raw_section.get("items", [])):
            iwhere = f"{where}.items[{i_index}]"
            key = _req(raw, "key", str, iwhere)
            if not _KEY.match(key):
                raise TemplateFileError(f"{iwhere}.key: {key!r} is not a lower-case dotted key")
            if key in seen:
                raise TemplateFileError(f"{iwhere}.key: {key!r} appears twice")
            seen.add(key)
            valid_days = _req(raw, "valid_days", int, iwhere)
            if valid_days < 1:
                raise TemplateFileError(f"{iwhere}.valid_days: must be at least 1")
            items.append(
                ItemData(
                    key=key,
                    title=_req(raw, "title", str, iwhere),
                    guidance=raw.get("guidance", ""),
                    blocking=_req(raw, "blocking", bool, iwhere),
                    evidence_required=_req(raw, "evidence_required", bool, iwhere),
                    valid_days=valid_days,
                    mappings=_mappings(raw, iwhere),
                )
            )
        sections.append(
            SectionData(
                key=_req(raw_section, "key", str, where),
                title=_req(raw_section, "title", str, where),
                items=items,
            )
        )
    if not sections:
        raise TemplateFileError("sections: a template needs at least one section")
    runbook = []
    for r_index, raw in enumerate(doc.get("runbook", [])):
        where = f"runbook[{r_index}]"
        runbook.append(
            StepData(
                step=_req(raw, "step", int, where),
                key=_req(raw, "key", str, where),
                title=_req(raw, "title", str, where),
                guidance=raw.get("guidance", ""),
                checks=_checks(raw, where),
            )
        )
    version = _req(head, "version", int, "template")
    if version < 1:
        raise TemplateFileError("template.version: must be at least 1")
    return TemplateData(
        key=_req(head, "key", str, "template"),
        version=version,
        name=_req(head, "name", str, "template"),
        description=head.get("description", ""),
        source=head.get("source", ""),
        sections=sections,
        runbook=runbook,
    )


def load_template_file(path: Path) -> TemplateData:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateFileError(f"{path}: {exc.strerror}") from None
    return parse_template(text)


DEFAULT_TEMPLATE = (
    Path(__file__).resolve().parent.parent / "checklists" / "fastapi-mongo" / "v2.toml"
)
