"""Fixed-window rate limits for the sensitive endpoints (login, OTP verification)."""

from __future__ import annotations

import logging

from .errors import ApiError
from .kv import GuardedKV, KVUnavailable, MemoryKV
from .metrics import Metrics

log = logging.getLogger("reference_service")


class RateLimiter:
    def __init__(self, kv: GuardedKV, metrics: Metrics, *, enabled: bool = True) -> None:
        self._kv = kv
        self._metrics = metrics
        self._enabled = enabled
        # While Redis is unavailable, counting continues in-process rather than failing open:
        # an outage of the cache must not switch off brute-force protection.
        self._fallback = MemoryKV(prefix=kv.prefix)

    def hit(self, limit_name: str, key: str, limit: int, window: int) -> None:
        """Count one attempt; raise 429 with Retry-After once `limit` is exceeded."""
        if not self._enabled:
            return
        full_key = f"rl:{limit_name}:{key}"
        try:
            count, retry_after = self._kv.incr_window(full_key, window)
        except KVUnavailable as exc:
            self._metrics.cache_errors.inc()
            log.warning("rate-limit store unavailable, counting in-process: %s", exc)
            count, retry_after = self._fallback.incr_window(full_key, window)
        if count > limit:
            self._metrics.rate_limited.labels(limit=limit_name).inc()
            raise ApiError(
                429,
                "rate_limited",
                f"Too many {limit_name} attempts; retry in {retry_after} s",
                details={"limit": limit, "window_seconds": window, "retry_after": retry_after},
                headers={"Retry-After": str(retry_after)},
            )
