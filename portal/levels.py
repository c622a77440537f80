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


def covered(status: str, granted: str | None) -> bool:
    """Whether an exemption granted for an item in status ``granted`` covers it in
    ``status`` (the same or a better one)."""
    return granted is not None and SEVERITY.get(status, 99) <= SEVERITY.get(granted, -1)


def is_complete(item: Item | None, exempted: Mapping[str, str]) -> bool:
    if item is None:
        return False
    return item.status in COMPLETE or covered(item.status, exempted.get(item.key))


@dataclass(frozen=True)
class Plan:
    """What does not depend on a service: a template's levels and items as they stand on
    ``today`` — which requirements count (``active``: level index, key, title) and which
    are upcoming, the items' weights. One plan serves every service on the template."""

    levels: tuple[Level, ...]
    active: tuple[tuple[int, str, str], ...]
    upcoming: tuple[Upcoming, ...]
    current_weights: dict[str, int]  # items counting today
    upcoming_weights: dict[str, int]  # items whose own effective date is still ahead
    total_current: int
    total_upcoming: int
    known: frozenset[str] = frozenset()  # every item key of the template


def plan(levels: Iterable[Level], items: Mapping[str, Item], *, today: date) -> Plan:
    levels = tuple(levels)
    active: list[tuple[int, str, str]] = []
    upcoming: list[Upcoming] = []
    for index, level in enumerate(levels):
        for req in level.requires:
            item = items.get(req.key)
            title = item.title if item else ""
            starts = _effective(item, req)
            if starts is not None and starts > today:
                upcoming.append(Upcoming(req.key, title, level.key, starts))
            else:
                active.append((index, req.key, title))
    current = {k: i.weight for k, i in items.items() if not _ahead(i, today)}
    ahead = {k: i.weight for k, i in items.items() if _ahead(i, today)}
    return Plan(
        levels=levels,
        active=tuple(active),
        upcoming=tuple(upcoming),
        current_weights=current,
        upcoming_weights=ahead,
        total_current=sum(current.values()),
        total_upcoming=sum(ahead.values()),
        known=frozenset(items),
    )


def _ahead(item: Item, today: date) -> bool:
    return item.effective_from is not None and item.effective_from > today


def _status(plan: Plan, incomplete: Mapping[str, str], key: str) -> str | None:
    return incomplete.get(key) or (None if key in plan.known else "open")


def _per_level(
    plan: Plan, incomplete: Mapping[str, str], exempted: Mapping[str, str], upto: int
) -> list[Missing]:
    """What the levels up to ``upto`` miss, lowest level first."""
    missing = []
    for index, key, title in plan.active:
        if index > upto:
            break
        status = _status(plan, incomplete, key)
        if status is not None and not covered(status, exempted.get(key)):
            missing.append(Missing(key, title, status, plan.levels[index].key))
    return missing


def _rank(plan: Plan, incomplete: Mapping[str, str], exempted: Mapping[str, str]) -> int:
    """The number of levels reached: the index of the first level missing something."""
    for index, key, _title in plan.active:
        status = _status(plan, incomplete, key)
        if status is not None and not covered(status, exempted.get(key)):
            return index
    return len(plan.levels)


def evaluate(
    plan: Plan, incomplete: Mapping[str, str], exempted: Mapping[str, str] | None = None
) -> LevelResult:
    """A service's result from its plan and the items *not* complete (key -> status); an
    item of the template not named there is complete; a required key that is not an item
    of the template at all is open."""
    exempted = exempted or {}
    rank = _rank(plan, incomplete, exempted)
    missing = _per_level(plan, incomplete, exempted, rank) if rank < len(plan.levels) else []
    open_current = open_ahead = 0
    used = []
    for key, status in incomplete.items():
        if covered(status, exempted.get(key)):
            used.append(key)
        elif key in plan.current_weights:
            open_current += plan.current_weights[key]
        elif key in plan.upcoming_weights:
            open_ahead += plan.upcoming_weights[key]
    total = plan.total_current + plan.total_upcoming - open_ahead
    return LevelResult(
        levels=plan.levels,
        rank=rank,
        score=round(100 * (total - open_current) / total, 1) if total else 100.0,
        missing=tuple(missing),
        upcoming=plan.upcoming,
        exempted=tuple(sorted(used)),
    )


def lacking(
    plan: Plan,
    incomplete: Mapping[str, str],
    exempted: Mapping[str, str] | None = None,
    *,
    level_key: str = "",
    item_keys: Iterable[str] = (),
) -> list[Missing]:
    """What a service lacks for a goal: the requirements of ``level_key`` and the levels
    below it, then any of ``item_keys`` not complete (``level`` is "" for those)."""
    exempted = exempted or {}
    missing: list[Missing] = []
    if level_key:
        keys = [lv.key for lv in plan.levels]
        if level_key not in keys:
            raise ValueError(f"{level_key!r} is not a level of the template")
        missing = _per_level(plan, incomplete, exempted, keys.index(level_key))
    named = {m.key for m in missing}
    for key in item_keys:
        status = _status(plan, incomplete, key)
        if key not in named and status is not None and not covered(status, exempted.get(key)):
            missing.append(Missing(key, "", status, ""))
    return missing


def _incomplete(items: Iterable[Item]) -> dict[str, str]:
    return {i.key: i.status for i in items if i.status not in COMPLETE}


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
    steps = plan(levels[: index + 1], items, today=today)
    return _per_level(steps, _incomplete(items.values()), exempted or {}, index)


def score(
    items: Iterable[Item], *, today: date, exempted: Mapping[str, str] | None = None
) -> float:
    """The weighted share complete (see the module's docstring)."""
    by_key = {i.key: i for i in items}
    return evaluate(plan((), by_key, today=today), _incomplete(by_key.values()), exempted).score


def compute(
    levels: list[Level],
    items: Mapping[str, Item],
    *,
    today: date,
    exempted: Mapping[str, str] | None = None,
) -> LevelResult:
    """The level, score, what the next level needs and what is upcoming."""
    return evaluate(plan(levels, items, today=today), _incomplete(items.values()), exempted)
