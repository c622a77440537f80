"""Levels and scores of a service on one checklist template: pure computation, no database.

A template defines ordered levels (Bronze, Silver, Gold...), lowest first and cumulative:
a service is at a level when every requirement of that level *and of every level below it*
is complete. Its level is the highest such level (none when even the first is not reached).

An item is *complete* when it is done and not expired, not applicable (a person skipped it
with a reason), or excused by name by an approved, unexpired exemption that was granted for
the item in its current status or a worse one (the launch gate's rule: an exemption for an
open item does not cover it once it fails). Stale, expired, open and failing items are not.

A requirement counts from its *effective date* on: the later of the item's
``effective_from`` and the level requirement's own. Before it the requirement is *upcoming*:
shown, but it neither lowers a level nor blocks a launch.

The *score* is the weighted share complete, over every item of the template that counts
today (an upcoming item counts only once it is complete: it can raise a score, not lower
it).

Inputs are plain data: :func:`item_status` folds an item state into the status used here,
and the callers (reviews.levels, the dashboards) load states and exemptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

COMPLETE = ("done", "na")
# How bad an item's status is: an exemption granted for one status covers that status or a
# better one (reviews.gate.SEVERITY, for items).
SEVERITY = {"done": 0, "na": 0, "stale": 1, "expired": 1, "open": 2, "failing": 3}


def item_status(state: str, expires_at: datetime | None, now: datetime) -> str:
    """The status of an item state for levels: ``done`` past its expiry is ``expired``."""
    if state == "done" and expires_at is not None and expires_at < now:
        return "expired"
    return state


@dataclass(frozen=True)
class Item:
    """One item of the template as the computation sees it."""

    key: str
    title: str = ""
    weight: int = 1
    effective_from: date | None = None
    status: str = "open"


@dataclass(frozen=True)
class Requirement:
    key: str
    effective_from: date | None = None


@dataclass(frozen=True)
class Level:
    key: str
    name: str
    requires: tuple[Requirement, ...]


def levels_from_json(raw: Iterable[Mapping[str, Any]]) -> list[Level]:
    """Levels as stored on ``ChecklistTemplate.levels``."""
    return [
        Level(
            key=level["key"],
            name=level["name"],
            requires=tuple(
                Requirement(
                    r["key"],
                    date.fromisoformat(r["effective_from"]) if r.get("effective_from") else None,
                )
                for r in level["requires"]
            ),
        )
        for level in raw
    ]


@dataclass(frozen=True)
class Missing:
    """A requirement not complete now: the item, its status and the level that needs it."""

    key: str
    title: str
    status: str
    level: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "title": self.title, "status": self.status, "level": self.level}


@dataclass(frozen=True)
class Upcoming:
    key: str
    title: str
    level: str
    effective_from: date

    def as_dict(self) -> dict[str, str]:
        return {
            "key": self.key,
            "title": self.title,
            "level": self.level,
            "effective_from": self.effective_from.isoformat(),
        }


@dataclass(frozen=True)
class LevelResult:
    """Where a service stands on one template. ``rank`` is 0 below the first level, 1 at the
    first... ``missing`` is what the next level still needs (its requirements and any left
    over from the levels below); ``upcoming`` the requirements not counting yet."""

    levels: tuple[Level, ...]
    rank: int
    score: float
    missing: tuple[Missing, ...] = ()
    upcoming: tuple[Upcoming, ...] = ()
    exempted: tuple[str, ...] = field(default=())

    @property
    def level(self) -> Level | None:
        return self.levels[self.rank - 1] if self.rank else None

    @property
    def next_level(self) -> Level | None:
        return self.levels[self.rank] if self.rank < len(self.levels) else None

    @property
    def level_key(self) -> str:
        return self.level.key if self.level else ""

    @property
    def level_name(self) -> str:
        return self.level.name if self.level else "none"

    def as_dict(self) -> dict[str, Any]:
        nxt = self.next_level
        return {
            "level": self.level_key or None,
            "level_name": self.level_name,
            "rank": self.rank,
            "levels": [level.key for level in self.levels],
            "score": self.score,
            "next_level": nxt.key if nxt else None,
            "missing": [m.as_dict() for m in self.missing],
            "upcoming": [u.as_dict() for u in self.upcoming],
            "exempted": list(self.exempted),
        }


def _effective(item: Item | None, req: Requirement) -> date | None:
    dates = [d for d in (item.effective_from if item else None, req.effective_from) if d]
    return max(dates) if dates else None


def is_complete(item: Item | None, exempted: Mapping[str, str]) -> bool:
    if item is None:
        return False
    if item.status in COMPLETE:
        return True
    granted = exempted.get(item.key)
    return granted is not None and SEVERITY.get(item.status, 99) <= SEVERITY.get(granted, -1)


def _by_level(
    levels: list[Level], items: Mapping[str, Item], today: date, exempted: Mapping[str, str]
) -> tuple[list[list[Missing]], list[Upcoming]]:
    """One pass over the requirements: what each level misses on its own, and what is
    upcoming."""
    missing: list[list[Missing]] = []
    upcoming: list[Upcoming] = []
    for level in levels:
        mine: list[Missing] = []
        for req in level.requires:
            item = items.get(req.key)
            starts = _effective(item, req)
            if starts is not None and starts > today:
                upcoming.append(Upcoming(req.key, item.title if item else "", level.key, starts))
            elif not is_complete(item, exempted):
                status = item.status if item else "open"
                mine.append(Missing(req.key, item.title if item else "", status, level.key))
        missing.append(mine)
    return missing, upcoming


def missing_for(
    levels: list[Level],
    items: Mapping[str, Item],
    level_key: str,
    *,
    today: date,
    exempted: Mapping[str, str] | None = None,
) -> list[Missing]:
    """What keeps a service from ``level_key`` today (the launch gate's required level)."""
    index = next(i for i, level in enumerate(levels) if level.key == level_key)
    per_level, _ = _by_level(levels[: index + 1], items, today, exempted or {})
    return [m for mine in per_level for m in mine]


def score(
    items: Iterable[Item], *, today: date, exempted: Mapping[str, str] | None = None
) -> float:
    exempted = exempted or {}
    total = done = 0
    for item in items:
        complete = is_complete(item, exempted)
        upcoming = item.effective_from is not None and item.effective_from > today
        if upcoming and not complete:
            continue
        total += item.weight
        done += item.weight if complete else 0
    return round(100 * done / total, 1) if total else 100.0


def compute(
    levels: list[Level],
    items: Mapping[str, Item],
    *,
    today: date,
    exempted: Mapping[str, str] | None = None,
) -> LevelResult:
    """The level, score, what the next level needs and what is upcoming."""
    exempted = exempted or {}
    per_level, upcoming = _by_level(levels, items, today, exempted)
    rank = next((i for i, mine in enumerate(per_level) if mine), len(levels))
    missing = [m for mine in per_level[: rank + 1] for m in mine] if rank < len(levels) else []
    used = [
        key
        for key, item in items.items()
        if item.status not in COMPLETE and is_complete(item, exempted)
    ]
    return LevelResult(
        levels=tuple(levels),
        rank=rank,
        score=score(items.values(), today=today, exempted=exempted),
        missing=tuple(missing),
        upcoming=tuple(upcoming),
        exempted=tuple(sorted(used)),
    )
