"""The item "database": an in-memory, thread-safe store with keyset pagination.

Timestamps have one-second resolution on purpose: items created in a burst share a
`created_at`, which is what makes a (created_at)-only cursor skip items and a correct
(created_at, id) cursor necessary.
"""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .drills import DrillState
from .errors import ApiError
from .metrics import Metrics

SortKey = tuple[str, str]


def utc_now_seconds() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DatabaseUnavailable(ApiError):
    """The store is down (the db drill). An ApiError, so every route answers 503 uniformly."""

    def __init__(self) -> None:
        super().__init__(
            503, "db_unavailable", "Database unavailable", headers={"Retry-After": "5"}
        )


@dataclass
class Item:
    id: str
    name: str
    tags: list[str]
    created_at: str
    updated_at: str

    @property
    def sort_key(self) -> SortKey:
        return (self.created_at, self.id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tags": list(self.tags),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class Page:
    items: list[Item]
    has_more: bool
    # Offset of the first item after this page; only meaningful for offset pagination.
    next_offset: int = 0


class ItemStore:
    def __init__(
        self,
        metrics: Metrics,
        drills: DrillState,
        clock: Callable[[], str] = utc_now_seconds,
    ) -> None:
        self._metrics = metrics
        self._drills = drills
        self.clock = clock
        self._lock = threading.RLock()
        self._items: dict[str, Item] = {}
        # Kept sorted by (created_at, id) so a keyset page is one bisect plus a slice.
        self._order: list[SortKey] = []

    @contextmanager
    def _op(self, operation: str) -> Iterator[None]:
        """Time one store operation and fail it when the db drill says the DB is down."""
        started = time.perf_counter()
        try:
            if self._drills.db_down:
                raise DatabaseUnavailable()
            with self._lock:
                yield
        finally:
            self._metrics.db_latency.labels(operation=operation).observe(
                time.perf_counter() - started
            )

    def ping(self) -> None:
        with self._op("ping"):
            pass

    def create(self, name: str, tags: list[str]) -> Item:
        with self._op("insert"):
            now = self.clock()
            item = Item(
                id=str(uuid.uuid4()), name=name, tags=list(tags), created_at=now, updated_at=now
            )
            self._items[item.id] = item
            bisect.insort(self._order, item.sort_key)
            return Item(**item.as_dict())

    def get(self, item_id: str) -> Item | None:
        with self._op("find_one"):
            item = self._items.get(item_id)
            return Item(**item.as_dict()) if item else None

    def update(self, item_id: str, changes: dict[str, Any]) -> Item | None:
        with self._op("update"):
            item = self._items.get(item_id)
            if item is None:
                return None
            if "name" in changes:
                item.name = changes["name"]
            if "tags" in changes:
                item.tags = list(changes["tags"])
            item.updated_at = self.clock()
            return Item(**item.as_dict())

    def delete(self, item_id: str) -> bool:
        with self._op("delete"):
            item = self._items.pop(item_id, None)
            if item is None:
                return False
            index = bisect.bisect_left(self._order, item.sort_key)
            del self._order[index]
            return True

    def page_after(self, after: SortKey | None, limit: int) -> Page:
        """Keyset page: the `limit` items strictly after `after` in (created_at, id) order."""
        with self._op("find_page"):
            start = 0 if after is None else bisect.bisect_right(self._order, after)
            keys = self._order[start : start + limit]
            items = [Item(**self._items[key[1]].as_dict()) for key in keys]
            return Page(items=items, has_more=start + limit < len(self._order))

    def page_at_offset(self, offset: int, limit: int) -> Page:
        """Skip/limit paging: used by the legacy listing and the `offset_pagination` flaw."""
        with self._op("find_page"):
            keys = self._order[offset : offset + limit]
            items = [Item(**self._items[key[1]].as_dict()) for key in keys]
            return Page(
                items=items,
                has_more=offset + limit < len(self._order),
                next_offset=offset + len(keys),
            )
