"""Reading checklist template data files (checklists/<key>/v<N>.toml) into plain data,
validated with messages that name the offending entry. No database access here."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)?$")


class TemplateFileError(ValueError):
    pass


@dataclass(frozen=True)
class ItemData:
    key: str
    title: str
    guidance: str
    blocking: bool
    evidence_required: bool
    valid_days: int
    checks: list[str] = field(default_factory=list)


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
                    checks=_checks(raw, iwhere),
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
    Path(__file__).resolve().parent.parent / "checklists" / "fastapi-mongo" / "v1.toml"
)
