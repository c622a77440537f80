"""JSON paths and body templates, as profiles write them.

A *path* is dotted keys into a JSON document (``user.token``; a numeric part indexes a list,
``data.0.id``); ``""`` is the document itself. A *template* is any TOML/JSON value whose
strings may hold ``${name}`` placeholders (``{user = {email = "${username}"}}``): rendering
replaces them, and a string that is exactly one placeholder whose value is ``None`` removes
its key (or list element), so an optional field such as ``scope`` is sent only when asked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
_MISSING = object()


class PathMissing(LookupError):
    """The document has nothing at the path."""


def get_path(document: Any, path: str) -> Any:
    """The value at ``path``; raises PathMissing when any step is absent."""
    value = document
    for part in path.split(".") if path else ():
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise PathMissing(path)
    return value


def find_path(document: Any, path: str, default: Any = None) -> Any:
    try:
        return get_path(document, path)
    except PathMissing:
        return default


def placeholders(template: Any) -> set[str]:
    """Every placeholder name used anywhere in ``template``."""
    if isinstance(template, str):
        return set(PLACEHOLDER.findall(template))
    if isinstance(template, Mapping):
        return set().union(*(placeholders(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template))
    return set()


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with its placeholders replaced by ``values`` (see the module docstring)."""
    rendered = _render(template, values)
    return None if rendered is _MISSING else rendered


def _render(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            value = values.get(whole.group(1))
            return _MISSING if value is None else value
        return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1)) or ""), template)
    if isinstance(template, Mapping):
        out = {k: _render(v, values) for k, v in template.items()}
        return {k: v for k, v in out.items() if v is not _MISSING}
    if isinstance(template, list):
        return [v for v in (_render(item, values) for item in template) if v is not _MISSING]
    return template


def contains(actual: Any, expected: Any) -> list[str]:
    """Where ``actual`` lacks what ``expected`` holds (objects may have more keys; lists and
    scalars must be equal), as dotted paths; empty when ``expected`` is a subset."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [""]
        wrong: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                wrong.append(str(key))
                continue
            nested = contains(actual[key], value)
            wrong.extend(f"{key}.{sub}" if sub else str(key) for sub in nested)
        return wrong
    return [] if actual == expected else [""]
