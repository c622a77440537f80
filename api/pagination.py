"""Cursor pagination: ``limit`` (1 to 100, default 20) and ``cursor`` in,
``{"items", "next_cursor"}`` out. Keyset on (created_at, id), ascending: stable under inserts
and deletes. The cursor is opaque to clients: base64 of the last row's key."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet
from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.jsonbody import loads

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
T = TypeVar("T")


class Paging(BaseModel):
    """The query parameters of every list."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    cursor: str | None = Field(
        None,
        max_length=512,
        description="next_cursor of the previous page; keyset on (created_at, id).",
    )


class PageOf(BaseModel):
    """Base of the list answers; each list names its item type."""

    model_config = ConfigDict(extra="forbid")

    next_cursor: str | None = Field(description="null on the last page")


def encode_cursor(created: datetime, pk: int) -> str:
    raw = json.dumps([created.isoformat(), pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _refused() -> ApiError:
    return ApiError(400, "invalid_cursor", "The cursor is not one this API issued.")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, pk = loads(raw)
        created = datetime.fromisoformat(stamp)
        if created.tzinfo is None or not isinstance(pk, int) or isinstance(pk, bool):
            raise ValueError
        return created, pk
    except (ApiError, ValueError, TypeError, binascii.Error):
        raise _refused() from None


def paginate(
    queryset: QuerySet[Any],
    paging: Paging,
    serialize: Callable[[Any], T],
    *,
    field: str = "created_at",
) -> dict[str, Any]:
    """One page: ``{"items": [serialize(row)...], "next_cursor": str | None}``."""
    qs = queryset.order_by(field, "pk")
    if paging.cursor:
        created, pk = decode_cursor(paging.cursor)
        qs = qs.filter(Q(**{f"{field}__gt": created}) | Q(**{field: created, "pk__gt": pk}))
    rows: list[Model] = list(qs[: paging.limit + 1])
    more = len(rows) > paging.limit
    rows = rows[: paging.limit]
    last = rows[-1] if rows else None
    return {
        "items": [serialize(row) for row in rows],
        "next_cursor": encode_cursor(getattr(last, field), last.pk) if more and last else None,
    }
