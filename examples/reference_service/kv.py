"""The key-value store behind the item cache and the rate-limit counters.

Redis when REDIS_URL is set, an in-process dict otherwise. Every key carries a per-instance
random prefix so parallel instances (tests, a healthy and a flawed service) never share
counters or cached items on one Redis.
"""

from __future__ import annotations

import secrets
import threading
import time

import redis

from .drills import DrillState


class KVUnavailable(Exception):
    """The store cannot be used right now (Redis error or the redis drill)."""


def new_prefix() -> str:
    return f"refsvc:{secrets.token_hex(6)}:"


class MemoryKV:
    """Expiring dict; also the fallback rate-limit store while Redis is unavailable."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or new_prefix()
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None or entry[1] <= time.monotonic():
                self._data.pop(key, None)
                return None
            return entry[0]

    def set(self, key: str, value: bytes, ttl: int) -> None:
        with self._lock:
            self._data[key] = (value, time.monotonic() + ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr_window(self, key: str, window: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            count, expires = self._counters.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + window
            count += 1
            self._counters[key] = (count, expires)
            return count, max(1, int(expires - now + 0.999))

    def ping(self) -> None:
        pass


class RedisKV:
    def __init__(self, url: str, prefix: str | None = None) -> None:
        self.prefix = prefix or new_prefix()
        # Short timeouts: a hung Redis must degrade the service, not stall every request.
        self._client = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25, retry_on_timeout=False
        )

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(self.prefix + key)
        except redis.RedisError as exc:
            raise KVUnavailable(str(exc)) from exc
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            self._client.set(self.prefix + key, value, ex=ttl)
        except redis.RedisError as exc:
            raise KVUnavailable(str(exc)) from exc

    def delete(self, key: str) -> None:
        try:
            self._client.delete(self.prefix + key)
        except redis.RedisError as exc:
            raise KVUnavailable(str(exc)) from exc

    def incr_window(self, key: str, window: int) -> tuple[int, int]:
        full = self.prefix + key
        try:
            # INCR then EXPIRE NX in one round trip: the first hit of a window starts its clock.
            pipe = self._client.pipeline(transaction=True)
            pipe.incr(full)
            pipe.expire(full, window, nx=True)
            pipe.ttl(full)
            count, _, ttl = pipe.execute()
        except redis.RedisError as exc:
            raise KVUnavailable(str(exc)) from exc
        return int(count), max(1, int(ttl))

    def ping(self) -> None:
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise KVUnavailable(str(exc)) from exc

    def close(self) -> None:
        self._client.close()


class GuardedKV:
    """Applies the redis drill in front of the real backend: "down" means unavailable."""

    def __init__(self, backend: MemoryKV | RedisKV, drills: DrillState) -> None:
        self.backend = backend
        self.prefix = backend.prefix
        self._drills = drills

    def _check(self) -> None:
        if self._drills.redis_down:
            raise KVUnavailable("cache disabled by the redis drill")

    def get(self, key: str) -> bytes | None:
        self._check()
        return self.backend.get(key)

    def set(self, key: str, value: bytes, ttl: int) -> None:
        self._check()
        self.backend.set(key, value, ttl)

    def delete(self, key: str) -> None:
        self._check()
        self.backend.delete(key)

    def incr_window(self, key: str, window: int) -> tuple[int, int]:
        self._check()
        return self.backend.incr_window(key, window)

    def ping(self) -> None:
        self._check()
        self.backend.ping()


def build_kv(redis_url: str | None, drills: DrillState) -> GuardedKV:
    backend: MemoryKV | RedisKV = RedisKV(redis_url) if redis_url else MemoryKV()
    return GuardedKV(backend, drills)
