"""The profile's ``[resource]`` and ``[status]`` sections (docs/profile.md).

``[resource]`` maps the item checks onto the service's own resource: where one item lives,
what a create body looks like (``${marker}`` is where Preflight puts the unique text it later
finds its items by), where the id is in the answer, PUT or PATCH, the list envelope and how
the listing pages. ``[status]`` lists the statuses accepted where HTTP allows a choice; the
defaults accept every status HTTP semantics allow, and a profile may narrow them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.engine.auth_settings import json_path
from checks.engine.fields import ProfileError, text
from checks.engine.templates import placeholders

PAGINATIONS = ("cursor", "offset", "page", "none")
UPDATE_METHODS = ("PATCH", "PUT")
DEFAULT_CREATE_BODY: Mapping[str, Any] = {"name": "${marker}", "tags": ["${marker}"]}
DEFAULT_PATCH_BODY: Mapping[str, Any] = {"name": "${marker}"}


@dataclass(frozen=True)
class ResourceSettings:
    item_path: str | None = None  # None: paths.items + "/{id}"
    item_envelope: str = ""  # where the item sits in one-item answers ("article"); "": the body
    id_path: str = "id"  # in the item
    create_body: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_CREATE_BODY))
    update_method: str = "PATCH"
    update_body: Mapping[str, Any] | None = None  # None: {name} for PATCH, create_body for PUT
    list_path: str = "items"  # "" : the listing is a bare JSON array
    pagination: str = "cursor"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    next_cursor_path: str = "next_cursor"
    offset_param: str = "offset"
    page_param: str = "page"
    created_at_path: str = "created_at"

    def item_template(self, items_path: str) -> str:
        """The item route with ``{id}``, for URLs and summaries."""
        if self.item_path is not None:
            return self.item_path
        return items_path.rstrip("/") + "/{id}" if items_path else ""

    def update_template(self) -> Mapping[str, Any]:
        if self.update_body is not None:
            return self.update_body
        return self.create_body if self.update_method == "PUT" else DEFAULT_PATCH_BODY


@dataclass(frozen=True)
class StatusSettings:
    bad_credentials: tuple[int, ...] = (400, 401)
    unauthenticated: tuple[int, ...] = (401, 403)
    created: tuple[int, ...] = (200, 201)
    deleted: tuple[int, ...] = (200, 204)


def _choice(options: tuple[str, ...]) -> Any:
    def check(dotted: str, value: Any) -> str:
        if value not in options:
            raise ProfileError(dotted, f"must be one of {', '.join(options)}")
        return str(value)

    return check


def _item_path(dotted: str, value: Any) -> str:
    path = text(dotted, value)
    if not path.startswith("/") or path.count("{id}") != 1:
        raise ProfileError(dotted, "must be a path starting with / holding {id} once")
    return path


def _body(dotted: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(dotted, "must be a table (the JSON body to send)")
    used = placeholders(value)
    if used - {"marker"}:
        raise ProfileError(dotted, "the only placeholder is ${marker}")
    if "marker" not in used:
        raise ProfileError(dotted, "must place ${marker} in a text field the service keeps")
    return value


def _param(dotted: str, value: Any) -> str:
    result = text(dotted, value)
    if any(c in result for c in "&=?# "):
        raise ProfileError(dotted, "must be a query parameter name")
    return result


def _optional_path(dotted: str, value: Any) -> str:
    return json_path(dotted, value, optional=True)


_RESOURCE: dict[str, Any] = {
    "item_path": _item_path,
    "item_envelope": _optional_path,
    "id_path": json_path,
    "create_body": _body,
    "update_method": _choice(UPDATE_METHODS),
    "update_body": _body,
    "list_path": _optional_path,
    "pagination": _choice(PAGINATIONS),
    "limit_param": _param,
    "cursor_param": _param,
    "next_cursor_path": json_path,
    "offset_param": _param,
    "page_param": _param,
    "created_at_path": _optional_path,
}


def _statuses(low: int, high: int) -> Any:
    def check(dotted: str, value: Any) -> tuple[int, ...]:
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or not all(low <= v <= high for v in value)
        ):
            raise ProfileError(dotted, f"must be a non-empty list of statuses {low}-{high}")
        return tuple(sorted(set(value)))

    return check


_STATUS: dict[str, Any] = {
    "bad_credentials": _statuses(400, 499),
    "unauthenticated": _statuses(400, 499),
    "created": _statuses(200, 299),
    "deleted": _statuses(200, 299),
}


def _table(name: str, value: Any, validators: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(name, "must be a table")
    for key in value:
        if key not in validators:
            raise ProfileError(f"{name}.{key}", "unknown key")
    return {key: validators[key](f"{name}.{key}", v) for key, v in value.items()}


def parse_resource(value: Any) -> ResourceSettings:
    return ResourceSettings(**_table("resource", value, _RESOURCE))


def parse_status(value: Any) -> StatusSettings:
    return StatusSettings(**_table("status", value, _STATUS))
