"""Reading checklist template data files (checklists/<key>/v<N>.toml) into plain data,
validated with messages that name the offending entry. No database access here."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
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
    # How much the item counts in the score (weighted share complete), and the day from which
    # it counts at all: before it the item is "upcoming" and neither lowers a level nor blocks.
    weight: int = 1
    effective_from: date | None = None

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
class LevelRequirement:
    """One item a level requires, optionally only from ``effective_from`` on."""

    key: str
    effective_from: date | None = None


@dataclass(frozen=True)
class LevelData:
    """One level of a template (Bronze, Silver, Gold...). Levels are ordered lowest first and
    cumulative: a service is at a level when every item of that level and of the levels
    below it is complete."""

    key: str
    name: str
    requires: list[LevelRequirement]


@dataclass(frozen=True)
class TemplateData:
    key: str
    version: int
    name: str
    description: str
    source: str
    sections: list[SectionData]
    runbook: list[StepData]
    levels: list[LevelData] = field(default_factory=list)
    # Tier (1, 2, 3) -> the level key a launch of a service of that tier requires.
    tier_levels: dict[int, str] = field(default_factory=dict)
    # An additional checklist applied automatically to every service matching the filter
    # ({"tiers": [1, 2], "lifecycles": ["production"]}; an empty list: any). Empty: the
    # template is only ever a service's own (chosen) checklist.
    applies_to: dict[str, list[Any]] = field(default_factory=dict)

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


def _date(table: dict[str, Any], where: str) -> date | None:
    value = table.get("effective_from")
    if value is None:
        return None
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise TemplateFileError(f"{where}.effective_from: must be a date (2027-01-31)")
    return value


def _weight(table: dict[str, Any], where: str) -> int:
    weight = table.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
        raise TemplateFileError(f"{where}.weight: must be a whole number of at least 1")
    return weight


_LEVEL_FIELDS = {"key", "name", "items"}
_REQUIREMENT_FIELDS = {"key", "effective_from"}


def _levels(doc: dict[str, Any], item_keys: set[str]) -> list[LevelData]:
    raw = doc.get("levels", [])
    if not isinstance(raw, list):
        raise TemplateFileError("levels: must be an array of tables ([[levels]])")
    levels: list[LevelData] = []
    for l_index, entry in enumerate(raw):
        where = f"levels[{l_index}]"
        if not isinstance(entry, dict):
            raise TemplateFileError(f"{where}: must be a table")
        unknown = sorted(set(entry) - _LEVEL_FIELDS)
        if unknown:
            raise TemplateFileError(f"{where}: unknown field(s) {', '.join(unknown)}")
        key = _req(entry, "key", str, where)
        if not re.match(r"^[a-z0-9_]+$", key):
            raise TemplateFileError(f"{where}.key: {key!r} is not a lower-case key")
        if key in {level.key for level in levels}:
            raise TemplateFileError(f"{where}.key: {key!r} appears twice")
        requires: list[LevelRequirement] = []
        for r_index, req in enumerate(_req(entry, "items", list, where)):
            at = f"{where}.items[{r_index}]"
            if isinstance(req, str):
                requirement = LevelRequirement(req)
            elif isinstance(req, dict):
                unknown = sorted(set(req) - _REQUIREMENT_FIELDS)
                if unknown:
                    raise TemplateFileError(f"{at}: unknown field(s) {', '.join(unknown)}")
                requirement = LevelRequirement(_req(req, "key", str, at), _date(req, at))
            else:
                raise TemplateFileError(f"{at}: must be an item key or {{ key, effective_from }}")
            if requirement.key not in item_keys:
                raise TemplateFileError(f"{at}: {requirement.key!r} is not an item of the template")
            if any(requirement.key in {r.key for r in lv.requires} for lv in levels) or (
                requirement.key in {r.key for r in requires}
            ):
                raise TemplateFileError(f"{at}: {requirement.key!r} is already required by a level")
            requires.append(requirement)
        levels.append(LevelData(key=key, name=_req(entry, "name", str, where), requires=requires))
    return levels


def _tier_levels(doc: dict[str, Any], levels: list[LevelData]) -> dict[int, str]:
    raw = doc.get("tier_levels", {})
    if not isinstance(raw, dict):
        raise TemplateFileError('tier_levels: must be a table (1 = "gold")')
    known = {level.key for level in levels}
    out: dict[int, str] = {}
    for tier, level in raw.items():
        if not str(tier).isdigit() or not 1 <= int(tier) <= 3:
            raise TemplateFileError(f"tier_levels.{tier}: a tier is 1, 2 or 3")
        if level not in known:
            raise TemplateFileError(f"tier_levels.{tier}: {level!r} is not a level of the template")
        out[int(tier)] = level
    return out


LIFECYCLES = ("development", "staging", "production", "retired")
_APPLIES_FIELDS = {"tiers", "lifecycles"}


def _applies_to(head: dict[str, Any]) -> dict[str, list[Any]]:
    raw = head.get("applies_to")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise TemplateFileError("template.applies_to: a table of tiers and/or lifecycles")
    unknown = sorted(set(raw) - _APPLIES_FIELDS)
    if unknown:
        raise TemplateFileError(f"template.applies_to: unknown field(s) {', '.join(unknown)}")
    tiers = raw.get("tiers", [])
    if not isinstance(tiers, list) or any(t not in (1, 2, 3) or t is True for t in tiers):
        raise TemplateFileError("template.applies_to.tiers: a list of tiers 1, 2, 3")
    lifecycles = raw.get("lifecycles", [])
    if not isinstance(lifecycles, list) or any(lc not in LIFECYCLES for lc in lifecycles):
        raise TemplateFileError(
            f"template.applies_to.lifecycles: a list of {', '.join(LIFECYCLES)}"
        )
    return {"tiers": sorted(set(tiers)), "lifecycles": sorted(set(lifecycles))}


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
                    weight=_weight(raw, iwhere),
                    effective_from=_date(raw, iwhere),
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
    levels = _levels(doc, seen)
    tier_levels = _tier_levels(doc, levels)
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
        levels=levels,
        tier_levels=tier_levels,
        applies_to=_applies_to(head),
    )


def load_template_file(path: Path) -> TemplateData:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateFileError(f"{path}: {exc.strerror}") from None
    return parse_template(text)


DEFAULT_TEMPLATE = (
    Path(__file__).resolve().parent.parent / "checklists" / "fastapi-mongo" / "v3.toml"
)
