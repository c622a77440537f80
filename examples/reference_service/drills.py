"""Drill state: what the /__drill/ hooks have broken, shared by every request of one app."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class _State:
    redis_down: bool = False
    db_down: bool = False
    error_rate: float = 0.0
    canary_version: str | None = None
    canary_weight: int = 0


class DrillState:
    """Thread-safe switches; reads are cheap because every request consults them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        # A dedicated RNG so tests can seed it without touching the global one.
        self.rng = random.Random()  # noqa: S311 - traffic sampling, not security

    @property
    def redis_down(self) -> bool:
        return self._state.redis_down

    @property
    def db_down(self) -> bool:
        return self._state.db_down

    def set_redis(self, down: bool) -> None:
        with self._lock:
            self._state.redis_down = down

    def set_db(self, down: bool) -> None:
        with self._lock:
            self._state.db_down = down

    def set_error_rate(self, rate: float) -> None:
        with self._lock:
            self._state.error_rate = rate

    def set_release(self, canary_version: str, weight: int) -> None:
        with self._lock:
            # Weight 0 is the rollback: forget the canary entirely.
            self._state.canary_version = canary_version if weight > 0 else None
            self._state.canary_weight = weight

    def should_fail(self) -> bool:
        rate = self._state.error_rate
        return rate > 0 and self.rng.random() < rate

    def pick_version(self, stable: str) -> str:
        canary, weight = self._state.canary_version, self._state.canary_weight
        if canary and weight > 0 and self.rng.random() * 100 < weight:
            return canary
        return stable

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self._state)
