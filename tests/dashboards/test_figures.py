"""The figures as data: counts on whole-number ticks, room for every axis title, and words
("No data yet") instead of empty axes or a single dot on a sub-millisecond axis."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from dashboards import figures
from dashboards.tables import Table

T0 = datetime(2026, 12, 3, 8, 1, 25, 683000)


def ticks(axis: dict[str, Any]) -> list[float]:
    """The tick values plotly draws for a linear axis (tick0 + n * dtick within range)."""
    low, high = axis["range"]
    values, value = [], float(axis["tick0"])
    while value <= high:
        if value >= low:
            values.append(value)
        value += axis["dtick"]
    return values


def span(axis: dict[str, Any]) -> timedelta:
    low, high = (datetime.fromisoformat(v) for v in axis["range"])
    return high - low


def annotation_texts(fig: dict[str, Any]) -> list[str]:
    return [a["text"] for a in fig["layout"].get("annotations", [])]


@pytest.mark.parametrize("top", [0, 1, 2, 3, 7, 12, 37, 140, 999])
def test_a_count_axis_has_only_whole_number_ticks_and_about_five_of_them(top) -> None:
    axis = figures.count_axis(top)
    values = ticks(axis)
    assert all(v == int(v) for v in values), values
    assert axis["tickformat"] == "d"
    assert 2 <= len(values) <= 7, values
    assert axis["range"][0] == 0 and axis["range"][1] >= max(top, 1)


def test_services_by_state_counts_services_in_whole_numbers() -> None:
    table = Table(
        "states",
        "Services by state",
        ["team", "team_name", "state", "services"],
        [("payments", "Payments", "blocked", 1), ("search", "Search", "ready", 1)],
    )
    yaxis = figures.services_by_state(table)["layout"]["yaxis"]
    assert yaxis["dtick"] == 1 and yaxis["tickformat"] == "d"
    assert ticks(yaxis) == [0, 1]


def test_failing_and_overdue_counts_stack_on_whole_number_axes() -> None:
    failing = Table(
        "failing_checks", "", ["key", "failing_services", "erroring_services"], [("a", 2, 1)]
    )
    xaxis = figures.failing_checks(failing)["layout"]["xaxis"]
    assert ticks(xaxis) == [0, 1, 2, 3]  # the stack reaches 3
    overdue = Table("d", "", ["key", "overdue_services", "passing_services"], [("a", 1, 0)])
    assert ticks(figures.drills_overdue(overdue)["layout"]["yaxis"]) == [0, 1]


def test_a_right_hand_axis_gets_room_and_no_title_sits_on_tick_labels() -> None:
    table = Table(
        "load",
        "",
        ["run", "at", "status", "p50_ms", "p95_ms", "p99_ms", "rps", "target_rps"],
        [(1, T0, "pass", 9.0, 19.0, 21.0, 24.0, 20)],
    )
    layout = figures.load_history(table)["layout"]
    assert layout["margin"]["r"] >= 60
    for name in ("xaxis", "yaxis", "yaxis2"):
        assert layout[name]["automargin"] is True, name
    for name in ("yaxis", "yaxis2"):
        assert layout[name]["title"]["standoff"] >= 10, name
    team = Table(
        "services",
        "",
        ["service", "blocking_pct", "all_pct", "failing_checks"],
        [("orders", 80, 70, 0)],
    )
    team_layout = figures.team_services(team)["layout"]
    assert team_layout["margin"]["r"] >= 60
    assert ticks(team_layout["yaxis2"]) == [0, 1]  # failing checks are counts


def test_one_load_test_is_a_dot_on_an_axis_of_at_least_an_hour() -> None:
    table = Table(
        "load",
        "",
        ["run", "at", "status", "p50_ms", "p95_ms", "p99_ms", "rps", "target_rps"],
        [(1, T0, "pass", 9.0, 19.0, 21.0, 24.0, 20)],
    )
    xaxis = figures.load_history(table)["layout"]["xaxis"]
    assert span(xaxis) >= timedelta(hours=2)
    assert xaxis["type"] == "date"


def test_drills_a_few_seconds_apart_get_a_readable_time_axis() -> None:
    columns = ["run", "at", "key", "status", *figures_drill_fields()]
    rows = [
        (1, T0, "chaos.db_readiness", "pass", 0.5, 0.1, None, None, None, None),
        (
            1,
            T0 + timedelta(seconds=8),
            "alerts.error_drill",
            "pass",
            None,
            None,
            3.1,
            4,
            None,
            None,
        ),
    ]
    layout = figures.drill_history(Table("drills", "", columns, rows))["layout"]
    assert span(layout["xaxis"]) >= timedelta(hours=2)
    assert layout["yaxis2"]["tickformat"] == ".0%"


def figures_drill_fields() -> list[str]:
    from dashboards.selectors.service import DRILL_FIELDS

    return DRILL_FIELDS


def test_readiness_of_a_single_day_spans_days_with_one_tick_a_day() -> None:
    table = Table(
        "readiness_history", "", ["day", "blocking_pct", "pct"], [(date(2026, 12, 3), 80, 78)]
    )
    fig = figures.readiness_history(table)
    xaxis = fig["layout"]["xaxis"]
    assert span(xaxis) >= timedelta(days=2)
    assert xaxis["dtick"] == figures.DAY_MS and xaxis["tickformat"] == "%b %-d"
    assert all("markers" in trace["mode"] for trace in fig["data"])  # a dot, not nothing


@pytest.mark.parametrize(
    ("draw", "columns"),
    [
        (figures.readiness_history, ["day", "blocking_pct", "pct"]),
        (figures.load_history, ["run", "at", "p50_ms"]),
        (figures.drill_history, ["run", "at", "key"]),
        (figures.check_timeline, ["run", "key", "status"]),
        (figures.drills_overdue, ["key", "overdue_services", "passing_services"]),
        (figures.failing_checks, ["key", "failing_services", "erroring_services"]),
        (figures.services_by_state, ["team", "team_name", "state", "services"]),
        (figures.team_services, ["service", "blocking_pct", "all_pct", "failing_checks"]),
        (figures.readiness_heatmap, ["team_name", "section", "section_title", "pct"]),
    ],
)
def test_an_empty_table_says_no_data_yet_instead_of_drawing_empty_axes(draw, columns) -> None:
    fig = draw(Table("t", "", columns, []))
    assert fig["data"] == []
    assert fig["layout"]["xaxis"]["visible"] is False
    assert fig["layout"]["yaxis"]["visible"] is False
    assert any(text.startswith("No data yet") for text in annotation_texts(fig))


def test_the_rate_axis_holds_the_target_and_has_its_own_whole_ticks() -> None:
    table = Table(
        "load",
        "",
        ["run", "at", "status", "p50_ms", "p95_ms", "p99_ms", "rps", "target_rps"],
        [(1, T0, "pass", 9.0, 19.0, 21.0, 23.9, 20)],
    )
    fig = figures.load_history(table)
    yaxis2 = fig["layout"]["yaxis2"]
    assert yaxis2["range"][1] >= 23.9 and all(v == int(v) for v in ticks(yaxis2))
    target = next(t for t in fig["data"] if t["name"] == "target rps")
    assert "markers" in target["mode"]  # one point: a mark, not an invisible line


def test_legends_sit_above_the_plot_never_on_the_tick_labels() -> None:
    overdue = Table(
        "d",
        "",
        ["key", "overdue_services", "passing_services"],
        [("load.target_rps", 1, 1), ("chaos.db_readiness", 0, 2)],
    )
    layout = figures.drills_overdue(overdue)["layout"]
    assert layout["legend"]["y"] >= 1 and layout["legend"]["yanchor"] == "bottom"
    assert layout["margin"]["t"] >= 40
    heatmap = Table(
        "heatmap", "", ["team_name", "section", "section_title", "pct"], [("P", "s", "S", 50)]
    )
    assert figures.readiness_heatmap(heatmap)["layout"]["showlegend"] is False
