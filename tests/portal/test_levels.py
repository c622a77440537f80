"""Levels and scores (portal.levels): pure computation, at each boundary — done, not
applicable (skipped by a person), stale and expired, failing, exempted by name, upcoming."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from portal.levels import Item, Level, Requirement, compute, item_status, missing_for, score
from portal.templates_io import TemplateFileError, parse_template

TODAY = date(2026, 12, 3)
LEVELS = [
    Level("bronze", "Bronze", (Requirement("a"), Requirement("b"))),
    Level("silver", "Silver", (Requirement("c"),)),
    Level("gold", "Gold", (Requirement("d"), Requirement("e", date(2027, 3, 1)))),
]


def _items(**status: str) -> dict[str, Item]:
    keys = ["a", "b", "c", "d", "e", "f"]
    return {k: Item(k, title=k.upper(), status=status.get(k, "open")) for k in keys}


def test_nothing_done_is_below_the_first_level_and_names_what_bronze_needs() -> None:
    result = compute(LEVELS, _items(), today=TODAY)
    assert result.rank == 0 and result.level is None and result.level_name == "none"
    assert result.next_level == LEVELS[0]
    assert [m.key for m in result.missing] == ["a", "b"]


def test_levels_are_cumulative_a_higher_levels_items_alone_do_not_reach_it() -> None:
    result = compute(LEVELS, _items(c="done", d="done"), today=TODAY)
    assert result.rank == 0  # Silver's item is done, Bronze's are not


def test_done_and_not_applicable_both_complete_a_level() -> None:
    result = compute(LEVELS, _items(a="done", b="na"), today=TODAY)
    assert result.level_key == "bronze"
    assert [(m.key, m.level) for m in result.missing] == [("c", "silver")]


@pytest.mark.parametrize("status", ["stale", "expired", "failing", "open"])
def test_a_stale_expired_failing_or_open_item_lowers_the_level(status: str) -> None:
    result = compute(LEVELS, _items(a="done", b="done", c=status), today=TODAY)
    assert result.level_key == "bronze"
    assert result.missing[0].status == status


def test_an_expired_done_tick_is_not_complete() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert item_status("done", now - timedelta(seconds=1), now) == "expired"
    assert item_status("done", now + timedelta(days=1), now) == "done"
    assert item_status("done", None, now) == "done"
    assert item_status("failing", None, now) == "failing"


def test_an_item_exempted_by_name_counts_complete_in_the_status_it_was_granted_for() -> None:
    items = _items(a="done", b="done", c="open")
    result = compute(LEVELS, items, today=TODAY, exempted={"c": "open"})
    assert result.level_key == "silver" and result.exempted == ("c",)
    # ... and in a better status (stale), never in a worse one (failing)
    assert compute(LEVELS, _items(a="done", b="done", c="stale"), today=TODAY,
                   exempted={"c": "open"}).level_key == "silver"  # fmt: skip
    worse = compute(LEVELS, _items(a="done", b="done", c="failing"), today=TODAY,
                    exempted={"c": "open"})  # fmt: skip
    assert worse.level_key == "bronze" and worse.exempted == ()


def test_an_upcoming_requirement_neither_lowers_the_level_nor_is_missing() -> None:
    items = _items(a="done", b="done", c="done", d="done")
    result = compute(LEVELS, items, today=TODAY)
    assert result.level_key == "gold" and result.next_level is None and result.missing == ()
    assert [(u.key, u.effective_from) for u in result.upcoming] == [("e", date(2027, 3, 1))]
    # from its effective date on, it counts
    after = compute(LEVELS, items, today=date(2027, 3, 1))
    assert after.level_key == "silver" and [m.key for m in after.missing] == ["e"]


def test_an_items_own_effective_date_makes_it_upcoming_too() -> None:
    items = _items(a="done")
    items["b"] = Item("b", status="open", effective_from=date(2027, 1, 1))
    assert compute(LEVELS, items, today=TODAY).level_key == "bronze"
    assert compute(LEVELS, items, today=date(2027, 1, 1)).level_key == ""


def test_missing_for_a_required_level_lists_every_level_up_to_it() -> None:
    items = _items(a="done", c="failing")
    missing = missing_for(LEVELS, items, "silver", today=TODAY)
    assert [(m.key, m.status, m.level) for m in missing] == [
        ("b", "open", "bronze"),
        ("c", "failing", "silver"),
    ]


def test_the_score_is_the_weighted_share_complete_upcoming_items_only_count_once_done() -> None:
    items = [
        Item("a", weight=3, status="done"),
        Item("b", weight=1, status="open"),
        Item("c", weight=1, status="na"),
        Item("d", weight=5, status="open", effective_from=date(2027, 1, 1)),
    ]
    assert score(items, today=TODAY) == 80.0  # (3 + 1) / (3 + 1 + 1)
    items[3] = Item("d", weight=5, status="done", effective_from=date(2027, 1, 1))
    assert score(items, today=TODAY) == 90.0  # (3 + 1 + 5) / 10
    assert score([], today=TODAY) == 100.0


def test_a_template_without_levels_has_a_score_and_no_level() -> None:
    result = compute([], _items(a="done"), today=TODAY)
    assert result.rank == 0 and result.next_level is None and result.missing == ()


_HEAD = """
[template]
key = "t"
name = "T"
version = 1
[[sections]]
key = "s"
title = "S"
[[sections.items]]
key = "s.a"
title = "A"
blocking = true
evidence_required = false
valid_days = 30
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[levels]]\nkey = "bronze"\nname = "B"\nitems = ["s.nope"]', "not an item of"),
        ('[[levels]]\nkey = "bronze"\nname = "B"\nitems = ["s.a", "s.a"]', "already required"),
        ('[[levels]]\nkey = "b"\nname = "B"\nitems = []\ncolour = 1', "unknown field(s) colour"),
        (
            '[[levels]]\nkey = "b"\nname = "B"\nitems = [{ key = "s.a", effective_from = 3 }]',
            "effective_from: must be a date",
        ),
        (
            '[[levels]]\nkey = "b"\nname = "B"\nitems = []\n[tier_levels]\n1 = "gold"',
            "tier_levels.1: 'gold' is not a level",
        ),
        (
            '[[levels]]\nkey = "b"\nname = "B"\nitems = []\n[tier_levels]\n7 = "b"',
            "tier_levels.7: a tier is 1, 2 or 3",
        ),
    ],
)
def test_a_bad_level_is_refused_naming_it(extra: str, message: str) -> None:
    with pytest.raises(TemplateFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_template(_HEAD + extra)


def test_a_bad_weight_is_refused_naming_the_item() -> None:
    with pytest.raises(TemplateFileError, match=r"sections\[0\].items\[0\].weight"):
        parse_template(_HEAD + "weight = 0\n")


def test_the_default_template_puts_every_blocking_item_in_a_level() -> None:
    from portal.templates_io import DEFAULT_TEMPLATE, load_template_file

    data = load_template_file(DEFAULT_TEMPLATE)
    assert [level.key for level in data.levels] == ["bronze", "silver", "gold"]
    in_levels = {r.key for level in data.levels for r in level.requires}
    blocking = {i.key for s in data.sections for i in s.items if i.blocking}
    assert in_levels == blocking
    assert data.tier_levels[1] == "gold"
