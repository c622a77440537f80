"""A drafted profile: sections of entries, each inferred (with its source) or left to fill in.

Discovery (discover.py) produces a ``Draft``; ``render_toml`` writes it as a profile that
``preflight check`` accepts unchanged, every inferred value followed by a comment naming where
it came from and every uninferred one as a commented line. The portal can show the same
draft as a form (``Draft.as_dict``) without parsing TOML back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class Entry:
    key: str
    value: Any
    source: str  # where the value came from, or why it is left to fill in
    inferred: bool = True  # False: written as a commented line (the default applies)


@dataclass
class Section:
    name: str
    entries: list[Entry] = field(default_factory=list)

    def set(self, key: str, value: Any, source: str) -> None:
        self._put(Entry(key, value, source, inferred=True))

    def todo(self, key: str, example: Any, why: str) -> None:
        self._put(Entry(key, example, why, inferred=False))

    def _put(self, entry: Entry) -> None:
        self.entries = [e for e in self.entries if e.key != entry.key] + [entry]

    def get(self, key: str, default: Any = None) -> Any:
        for entry in self.entries:
            if entry.key == key and entry.inferred:
                return entry.value
        return default


@dataclass
class Draft:
    base_url: str
    openapi_url: str
    sections: dict[str, Section] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # printed at the top, as comments

    def section(self, name: str) -> Section:
        return self.sections.setdefault(name, Section(name))

    def to_data(self) -> dict[str, Any]:
        """The whole draft as JSON-ready data (the portal stores it between requests)."""
        return {
            "base_url": self.base_url,
            "openapi_url": self.openapi_url,
            "notes": list(self.notes),
            "sections": [
                {
                    "name": section.name,
                    "entries": [
                        {"key": e.key, "value": e.value, "source": e.source, "inferred": e.inferred}
                        for e in section.entries
                    ],
                }
                for section in self.sections.values()
            ],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Draft:
        """The draft ``to_data`` wrote."""
        draft = cls(
            base_url=str(data["base_url"]),
            openapi_url=str(data.get("openapi_url", "")),
            notes=[str(n) for n in data.get("notes", [])],
        )
        for section in data.get("sections", []):
            target = draft.section(str(section["name"]))
            for e in section.get("entries", []):
                target.entries.append(
                    Entry(str(e["key"]), e["value"], str(e["source"]), bool(e["inferred"]))
                )
        return draft

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The inferred values only, as the profile's tables."""
        return {
            name: {e.key: e.value for e in section.entries if e.inferred}
            for name, section in self.sections.items()
            if any(e.inferred for e in section.entries)
        }


def toml_value(value: Any) -> str:
    """One TOML value, inline (tables as ``{ k = v }``): enough for what a profile holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are valid TOML basic strings
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _comment(text: str) -> str:
    return " ".join(text.split())


def render_toml(draft: Draft) -> str:
    lines = [
        f"# Drafted by `preflight discover` from {draft.openapi_url}"
        if draft.openapi_url
        else "# A blank profile: nothing was drafted from an OpenAPI document",
        "# Each value says where it came from; commented lines were not inferred (their",
        "# defaults apply until you set them). Reference: docs/profile.md",
    ]
    lines += [f"# NOTE: {_comment(note)}" for note in draft.notes]
    for section in draft.sections.values():
        if not section.entries:
            continue
        lines += ["", f"[{section.name}]"]
        for entry in section.entries:
            assignment = f"{toml_key(entry.key)} = {toml_value(entry.value)}"
            if entry.inferred:
                lines.append(f"{assignment}  # {_comment(entry.source)}")
            else:
                lines.append(f"# {assignment}  # {_comment(entry.source)}")
    return "\n".join(lines) + "\n"
