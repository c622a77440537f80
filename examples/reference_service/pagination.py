"""Opaque cursors. Keyset cursors carry the last (created_at, id) seen; the flawed one an offset."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .errors import ApiError
from .store import SortKey


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(payload, dict):
        raise invalid_cursor()
    return payload


def invalid_cursor() -> ApiError:
    return ApiError(422, "invalid_cursor", "Cursor is malformed", details={"param": "cursor"})


def encode_keyset(key: SortKey) -> str:
    return _encode({"c": key[0], "i": key[1]})


def decode_keyset(cursor: str) -> SortKey:
    payload = _decode(cursor)
    created_at, item_id = payload.get("c"), payload.get("i")
    if not isinstance(created_at, str) or not isinstance(item_id, str):
        raise invalid_cursor()
    return (created_at, item_id)


def encode_offset(offset: int) -> str:
    return _encode({"o": offset})


def decode_offset(cursor: str) -> int:
    offset = _decode(cursor).get("o")
    if not isinstance(offset, int) or offset < 0:
        raise invalid_cursor()
    return offset
