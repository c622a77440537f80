"""Plotly figures built on the server from the dashboards' tables. Each function takes a
:class:`Table` and returns the figure as plain JSON-ready data; the browser only draws it
(static/js/dashboards.js). Only SVG trace types are used: WebGL traces would need
``unsafe-eval`` under a strict CSP."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboards.selectors.common import STATES
from dashboards.selectors.levels import LEVEL_COLOUR_DEFAULT, LEVEL_COLOURS
from dashboards.tables import Table

STATE_COLOURS = {
    "ready": "#1f8f4e",
    "in_review": "#2b6cb0",
    "blocked": "#c53030",
    "stale": "#b7791f",
}
STATUS_CODES = {"skip": 0, "pass": 1, "error": 2, "fail": 3}
STATUS_SCALE = [
    [0.0, "#cbd2e0"],
    [0.125, "#cbd2e0"],
    [0.125, "#1f8f4e"],
    [0.375, "#1f8f4e"],
    [0.375, "#b7791f"],
    [0.625, "#b7791f"],
    [0.625, "#c53030"],
    [1.0, "#c53030"],
]
READINESS_SCALE = [[0.0, "#c53030"], [0.5, "#ecc94b"], [1.0, "#1f8f4e"]]
FLIP_TARGET_S = 5.0


AXES = ("xaxis", "yaxis", "yaxis2")
TITLE_STANDOFF = 12  # px between an axis title and its tick labels
NO_DATA = "No data yet"
DAY_MS = 86_400_000


def _layout(height: int = 320, **extra: Any) -> dict[str, Any]:
    """The common layout. Every axis gets ``automargin`` (plotly grows the margin to fit
    its tick labels and title, so titles never sit on the tick labels) and its title a
    standoff; a figure with a right-hand axis gets room for it."""
    # "none" keeps plotly's default theme (7 kB per figure) out of every page.
    layout: dict[str, Any] = {
        "template": "none",
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
        "font": {"family": "system-ui, sans-serif", "size": 12},
        # Above the plot: below it, the legend would sit on rotated tick labels.
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        **extra,
    }
    if layout.get("showlegend", True):
        layout["margin"] = {**layout["margin"], "t": max(layout["margin"].get("t", 0), 40)}
    for name in AXES:
        if name not in layout and name != "yaxis2":
            layout[name] = {}
        axis = layout.get(name)
        if axis is None:
            continue
        layout[name] = axis = {"automargin": True, **axis}
        if isinstance(axis.get("title"), dict):
            axis["title"] = {"standoff": TITLE_STANDOFF, **axis["title"]}
    if "yaxis2" in layout:
        layout["margin"] = {**layout["margin"], "r": max(layout["margin"].get("r", 0), 70)}
    return layout


def count_axis(top: float, **extra: Any) -> dict[str, Any]:
    """An axis of counts (services, checks): whole-number ticks only, from 0, at a step that
    keeps about five ticks (1, 2, 5, 10, 20, 50…), and a range that shows at least 0-1."""
    top = max(float(top or 0), 1.0)
    step = 1
    while top / step > 6:
        # 1, 2, 5, 10, 20, 50, ...
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return {
        "tickmode": "linear",
        "tick0": 0,
        "dtick": step,
        "tickformat": "d",
        "rangemode": "tozero",
        "range": [0, top * 1.05],
        **extra,
    }


def _time_axis(values: list[Any], *, by_day: bool = False, **extra: Any) -> dict[str, Any]:
    """A time axis that never spans less than a day (by day) or an hour: one point, or
    several within a millisecond, would otherwise get an axis of sub-millisecond ticks."""
    stamps = sorted(_parse(v) for v in values if v is not None)
    axis: dict[str, Any] = {"type": "date", **extra}
    if not stamps:
        return axis
    least = timedelta(days=1) if by_day else timedelta(hours=1)
    span = stamps[-1] - stamps[0]
    if span < least:
        middle = stamps[0] + span / 2
        axis["range"] = [_iso(middle - least), _iso(middle + least)]
    if by_day:
        axis["tickformat"] = "%b %-d"
        if span <= timedelta(days=14):
            axis["dtick"] = DAY_MS  # one tick a day, never two labels for the same day
    return axis


def _parse(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(str(value))


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def _json(fig: go.Figure) -> dict[str, Any]:
    return fig.to_plotly_json()


def _empty(detail: str) -> dict[str, Any]:
    """No axes at all, and words saying why: "No data yet: no load test has run"."""
    layout = _layout(
        140,
        showlegend=False,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": f"{NO_DATA}: {detail}", "showarrow": False, "font": {"size": 14}}],
    )
    return _json(go.Figure(layout=layout))


def _stack_top(*columns: list[Any]) -> float:
    """The highest stacked bar: the largest sum across columns, position by position."""
    return max((sum(v or 0 for v in values) for values in zip(*columns, strict=True)), default=0)


# --- portfolio ----------------------------------------------------------------------------


def readiness_heatmap(table: Table, *, y: str = "team_name") -> dict[str, Any]:
    """Rows x sections coloured by % complete; each cell carries the URL it opens."""
    if not table.rows:
        return _empty("no services")
    rows = list(dict.fromkeys(table.column(y)))
    sections: dict[str, str] = {}
    for key, title in zip(table.column("section"), table.column("section_title"), strict=True):
        sections.setdefault(key, title)
    cols = list(sections)
    z: list[list[Any]] = [[None] * len(cols) for _ in rows]
    urls: list[list[str]] = [[""] * len(cols) for _ in rows]
    r_index = {name: i for i, name in enumerate(rows)}
    c_index = {key: i for i, key in enumerate(cols)}
    has_url = "url" in table.columns
    for rec in table.records():
        i, j = r_index[rec[y]], c_index[rec["section"]]
        z[i][j] = rec["pct"]
        urls[i][j] = rec["url"] if has_url else ""
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[sections[c] for c in cols],
            y=rows,
            customdata=urls,
            zmin=0,
            zmax=100,
            colorscale=READINESS_SCALE,
            colorbar={"title": {"text": "% done"}},
            hovertemplate="%{y} · %{x}: %{z}% done<extra></extra>",
            texttemplate="%{z}",
        ),
        layout=_layout(
            max(260, 22 * len(rows) + 90),
            showlegend=False,
            margin={"l": 140, "r": 20, "t": 10, "b": 90},
            yaxis={"autorange": "reversed"},
        ),
    )
    return _json(fig)


def services_by_state(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("no services")
    teams = list(dict.fromkeys(table.column("team_name")))
    counts = {(r["team_name"], r["state"]): r["services"] for r in table.records()}
    per_team = {t: sum(counts.get((t, state), 0) for state in STATES) for t in teams}
    traces = [
        go.Bar(
            name=label,
            x=teams,
            y=[counts.get((t, state), 0) for t in teams],
            marker={"color": STATE_COLOURS[state]},
        )
        for state, label in STATES.items()
    ]
    layout = _layout(
        340,
        barmode="stack",
        margin={"l": 40, "r": 20, "t": 10, "b": 110},
        yaxis=count_axis(max(per_team.values(), default=0), title={"text": "services"}),
    )
    return _json(go.Figure(traces, layout=layout))


def failing_checks(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("no check fails anywhere")
    keys = table.column("key")[::-1]
    top = _stack_top(table.column("failing_services"), table.column("erroring_services"))
    fig = go.Figure(
        [
            go.Bar(
                name="failing",
                y=keys,
                x=table.column("failing_services")[::-1],
                orientation="h",
                marker={"color": "#c53030"},
            ),
            go.Bar(
                name="error",
                y=keys,
                x=table.column("erroring_services")[::-1],
                orientation="h",
                marker={"color": "#b7791f"},
            ),
        ],
        layout=_layout(
            max(220, 24 * len(keys) + 80),
            barmode="stack",
            margin={"l": 190, "r": 20, "t": 10, "b": 40},
            xaxis=count_axis(top, title={"text": "services"}),
        ),
    )
    return _json(fig)


def drills_overdue(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("no drill check is registered")
    keys = table.column("key")
    fig = go.Figure(
        [
            go.Bar(
                name="overdue",
                x=keys,
                y=table.column("overdue_services"),
                marker={"color": "#c53030"},
            ),
            go.Bar(
                name="passed within the drill window",
                x=keys,
                y=table.column("passing_services"),
                marker={"color": "#1f8f4e"},
            ),
        ],
        layout=_layout(
            280,
            barmode="stack",
            yaxis=count_axis(
                _stack_top(table.column("overdue_services"), table.column("passing_services")),
                title={"text": "services"},
            ),
        ),
    )
    return _json(fig)


# --- team -----------------------------------------------------------------------------------


def team_services(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("this team has no services")
    names = table.column("service")
    fig = go.Figure(
        [
            go.Bar(
                name="blocking items done %",
                x=names,
                y=table.column("blocking_pct"),
                marker={"color": "#2b6cb0"},
            ),
            go.Bar(
                name="all items done %",
                x=names,
                y=table.column("all_pct"),
                marker={"color": "#90cdf4"},
            ),
            go.Scatter(
                name="failing checks",
                x=names,
                y=table.column("failing_checks"),
                mode="markers",
                yaxis="y2",
                marker={"color": "#c53030", "size": 10},
            ),
        ],
        layout=_layout(
            320,
            barmode="group",
            yaxis={"range": [0, 100], "title": {"text": "%"}},
            yaxis2=count_axis(
                max(table.column("failing_checks"), default=0),
                overlaying="y",
                side="right",
                title={"text": "failing checks"},
                showgrid=False,
            ),
        ),
    )
    return _json(fig)


# --- service --------------------------------------------------------------------------------


def readiness_history(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("no checklist change recorded")
    days = [_iso(d) for d in table.column("day")]
    mode = "lines+markers" if len(days) < 3 else "lines"
    fig = go.Figure(
        [
            go.Scatter(
                name="blocking items done %",
                x=days,
                y=table.column("blocking_pct"),
                mode=mode,
                line={"shape": "hv", "color": "#2b6cb0"},
            ),
            go.Scatter(
                name="all items done %",
                x=days,
                y=table.column("pct"),
                mode=mode,
                line={"shape": "hv", "color": "#1f8f4e"},
            ),
        ],
        layout=_layout(
            280,
            xaxis=_time_axis(days, by_day=True),
            yaxis={"range": [0, 105], "title": {"text": "% done"}},
        ),
    )
    return _json(fig)


def check_timeline(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("no validation run yet")
    runs = list(dict.fromkeys(table.column("run")))
    keys = sorted(set(table.column("key")))
    col = {run: i for i, run in enumerate(runs)}
    row = {key: i for i, key in enumerate(keys)}
    z: list[list[Any]] = [[None] * len(runs) for _ in keys]
    text: list[list[str]] = [[""] * len(runs) for _ in keys]
    for rec in table.records():
        i, j = row[rec["key"]], col[rec["run"]]
        z[i][j] = STATUS_CODES.get(rec["status"])
        text[i][j] = rec["status"]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"#{r}" for r in runs],
            y=keys,
            text=text,
            zmin=0,
            zmax=3,
            colorscale=STATUS_SCALE,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate="run %{x} · %{y}: %{text}<extra></extra>",
        ),
        layout=_layout(
            max(240, 18 * len(keys) + 80),
            showlegend=False,
            margin={"l": 190, "r": 20, "t": 10, "b": 60},
            xaxis={"type": "category"},
        ),
    )
    return _json(fig)


def load_history(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("no load test has run")
    at = [_iso(v) for v in table.column("at")]
    lines = [
        go.Scatter(name=f"{p} ms", x=at, y=table.column(f"{p}_ms"), mode="lines+markers")
        for p in ("p50", "p95", "p99")
    ]
    rates = [
        go.Scatter(
            name="achieved rps",
            x=at,
            y=table.column("rps"),
            yaxis="y2",
            mode="lines+markers",
            line={"dash": "dot", "color": "#1f8f4e"},
        ),
        go.Scatter(
            name="target rps",
            x=at,
            y=table.column("target_rps"),
            yaxis="y2",
            # One load test has no line to draw: mark the target at its point.
            mode="lines" if len(at) > 1 else "markers",
            marker={"symbol": "line-ew-open", "size": 16, "color": "#718096"},
            line={"dash": "dash", "color": "#718096"},
        ),
    ]
    top_rps = max(
        (v for v in [*table.column("rps"), *table.column("target_rps")] if v is not None),
        default=0,
    )
    layout = _layout(
        300,
        xaxis=_time_axis(at),
        yaxis={"title": {"text": "latency ms"}, "rangemode": "tozero"},
        # Its own ticks (plotly would otherwise align them to the left axis' grid: 5.75,
        # 11.49, ...) and a range that holds both the achieved and the target rate.
        yaxis2=count_axis(
            top_rps * 1.1,
            title={"text": "requests/s"},
            overlaying="y",
            side="right",
            showgrid=False,
        ),
    )
    return _json(go.Figure([*lines, *rates], layout=layout))


def drill_history(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("no drill has run")
    series = [
        ("chaos.db_readiness", "flip_s", "readiness flip s", "y"),
        ("chaos.db_readiness", "recovery_s", "recovery s", "y"),
        ("alerts.error_drill", "time_to_alert_s", "time to alert s", "y"),
        ("rollout.canary_drill", "canary_share", "canary share", "y2"),
    ]
    records = table.records()
    traces = []
    for key, field, label, axis in series:
        points = [r for r in records if r["key"] == key and r[field] is not None]
        traces.append(
            go.Scatter(
                name=label,
                x=[_iso(r["at"]) for r in points],
                y=[r[field] for r in points],
                mode="lines+markers",
                yaxis=axis,
            )
        )
    layout = _layout(
        300,
        xaxis=_time_axis([_iso(r["at"]) for r in records]),
        yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "canary share"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1],
            "tickmode": "linear",
            "tick0": 0,
            "dtick": 0.25,
            "tickformat": ".0%",
            "showgrid": False,
        },
        shapes=[
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": FLIP_TARGET_S,
                "y1": FLIP_TARGET_S,
                "line": {"dash": "dash", "color": "#c53030"},
            }
        ],
        annotations=[
            {
                "xref": "paper",
                "x": 0,
                "y": FLIP_TARGET_S,
                "yanchor": "bottom",
                "xanchor": "left",
                "showarrow": False,
                "text": "5 s flip target",
            }
        ],
    )
    return _json(go.Figure(traces, layout=layout))


def levels_by_team(table: Table) -> dict[str, Any]:
    """Stacked bars: per team, its services by level (coloured by level, lowest at the
    bottom); the hover names the team's mean score. Plain plotly JSON, without building
    ``go`` objects: this figure is on the portfolio's every view."""
    if not table.rows:
        return _empty("No services yet")
    records = table.records()
    teams = list(dict.fromkeys(r["team_name"] for r in records))
    levels = sorted({(r["rank"], r["level"]) for r in records})
    counts: dict[tuple[str, str], int] = {}
    mean: dict[str, list[float]] = {}
    for r in records:
        counts[(r["team_name"], r["level"])] = (
            counts.get((r["team_name"], r["level"]), 0) + (r["services"])
        )
        mean.setdefault(r["team_name"], []).append(r["mean_score"])
    score = {t: round(sum(v) / len(v), 1) for t, v in mean.items()}
    traces = [
        {
            "type": "bar",
            "name": level,
            "x": teams,
            "y": [counts.get((t, level), 0) for t in teams],
            "marker": {"color": LEVEL_COLOURS.get(level, LEVEL_COLOUR_DEFAULT)},
            "customdata": [score[t] for t in teams],
            "hovertemplate": "%{x}: %{y} at "
            + level
            + " (mean score %{customdata}%)<extra></extra>",
        }
        for _rank, level in levels
    ]
    layout = _layout(340, barmode="stack", margin={"l": 40, "r": 20, "t": 10, "b": 110})
    return {"data": traces, "layout": layout}
