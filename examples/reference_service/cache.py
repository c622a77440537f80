"""Read-through cache for single items. A cache failure is never the client's problem."""

from __future__ import annotations

import json
import logging

from .kv import GuardedKV, KVUnavailable
from .metrics import Metrics
from .store import Item, ItemStore

log = logging.getLogger("reference_service")


class ItemCache:
    def __init__(self, kv: GuardedKV, store: ItemStore, metrics: Metrics, ttl: int) -> None:
        self._kv = kv
        self._store = store
        self._metrics = metrics
        self._ttl = ttl

    @staticmethod
    def _key(item_id: str) -> str:
        return f"item:{item_id}"

    def get(self, item_id: str) -> Item | None:
        try:
            cached = self._kv.get(self._key(item_id))
        except KVUnavailable as exc:
            self._degraded("read", exc)
            return self._store.get(item_id)
        if cached is not None:
            self._metrics.cache_hits.inc()
            return Item(**json.loads(cached))
        self._metrics.cache_misses.inc()
        item = self._store.get(item_id)
        if item is not None:
            try:
                self._kv.set(self._key(item_id), json.dumps(item.as_dict()).encode(), self._ttl)
            except KVUnavailable as exc:
                self._degraded("write", exc)
        return item

    def invalidate(self, item_id: str) -> None:
        try:
            self._kv.delete(self._key(item_id))
        except KVUnavailable as exc:
            # A stale entry can outlive an outage by at most the TTL; acceptable for a demo.
            self._degraded("invalidate", exc)

    def _degraded(self, what: str, exc: Exception) -> None:
        self._metrics.cache_errors.inc()
        log.warning("cache %s failed, serving from the store: %s", what, exc)
