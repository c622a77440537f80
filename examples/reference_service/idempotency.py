"""Idempotency-Key support for POST: replay the first response, refuse a changed body."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status_code: int
    body: dict[str, Any]
    expires_at: float


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    def __init__(self) -> None:
        # One lock around check-create-record: two concurrent requests with the same key must
        # not both create an item. Creation is in-memory and fast, so contention is negligible.
        self._lock = threading.Lock()
        self._responses: dict[tuple[str, str], StoredResponse] = {}

    def run(
        self,
        owner: str,
        key: str,
        payload: Any,
        action: Callable[[], tuple[int, dict[str, Any]]],
    ) -> tuple[int, dict[str, Any], bool]:
        """Return (status, body, replayed); `action` runs only for a key not seen before."""
        print_ = fingerprint(payload)
        now = time.time()
        with self._lock:
            stored = self._responses.get((owner, key))
            if stored is not None and stored.expires_at > now:
                if stored.fingerprint != print_:
                    raise ApiError(
                        409,
                        "idempotency_key_reused",
                        "Idempotency-Key was already used with a different request body",
                        details={"idempotency_key": key},
                    )
                return stored.status_code, stored.body, True
            status, body = action()
            self._responses[(owner, key)] = StoredResponse(print_, status, body, now + _TTL_SECONDS)
            return status, body, False
