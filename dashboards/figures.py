"""Plotly figures built on the server from the dashboards' tables. Each function takes a
:class:`Table` and returns the figure as plain JSON-ready data; the browser only draws it
(static/js/dashboards.js). Only SVG trace types are used: WebGL traces would need
``unsafe-eval`` under a strict CSP."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import plotly.graph_objects as go

from dashboards.selectors.common import STATES
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


def _layout(height: int = 320, **extra: Any) -> dict[str, Any]:
    # "none" keeps plotly's default theme (7 kB per figure) out of every page.
    return {
        "template": "none",
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def _json(fig: go.Figure) -> dict[str, Any]:
    return fig.to_plotly_json()


def _empty(message: str) -> dict[str, Any]:
    layout = _layout(
        140,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}],
    )
    return _json(go.Figure(layout=layout))


# --- portfolio ----------------------------------------------------------------------------


def readiness_heatmap(table: Table, *, y: str = "team_name") -> dict[str, Any]:
    """Rows x sections coloured by % complete; each cell carries the URL it opens."""
    if not table.rows:
        return _empty("No services yet")
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
            margin={"l": 140, "r": 20, "t": 10, "b": 90},
            yaxis={"autorange": "reversed"},
        ),
    )
    return _json(fig)


def services_by_state(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("No services yet")
    teams = list(dict.fromkeys(table.column("team_name")))
    counts = {(r["team_name"], r["state"]): r["services"] for r in table.records()}
    traces = [
        go.Bar(
            name=label,
            x=teams,
            y=[counts.get((t, state), 0) for t in teams],
            marker={"color": STATE_COLOURS[state]},
        )
        for state, label in STATES.items()
    ]
    layout = _layout(340, barmode="stack", margin={"l": 40, "r": 20, "t": 10, "b": 110})
    return _json(go.Figure(traces, layout=layout))


def failing_checks(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("No check fails anywhere")
    keys = table.column("key")[::-1]
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
        ),
    )
    return _json(fig)


def drills_overdue(table: Table) -> dict[str, Any]:
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
        layout=_layout(280, barmode="stack"),
    )
    return _json(fig)


# --- team -----------------------------------------------------------------------------------


def team_services(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("This team has no services")
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
            yaxis2={
                "overlaying": "y",
                "side": "right",
                "title": {"text": "failing checks"},
                "rangemode": "tozero",
            },
        ),
    )
    return _json(fig)


# --- service --------------------------------------------------------------------------------


def readiness_history(table: Table) -> dict[str, Any]:
    days = [_iso(d) for d in table.column("day")]
    fig = go.Figure(
        [
            go.Scatter(
                name="blocking items done %",
                x=days,
                y=table.column("blocking_pct"),
                line={"shape": "hv", "color": "#2b6cb0"},
            ),
            go.Scatter(
                name="all items done %",
                x=days,
                y=table.column("pct"),
                line={"shape": "hv", "color": "#1f8f4e"},
            ),
        ],
        layout=_layout(280, yaxis={"range": [0, 105], "title": {"text": "%"}}),
    )
    return _json(fig)


def check_timeline(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("No runs yet")
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
            margin={"l": 190, "r": 20, "t": 10, "b": 60},
            xaxis={"type": "category"},
        ),
    )
    return _json(fig)


def load_history(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("No load test yet")
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
            mode="lines",
            line={"dash": "dash", "color": "#718096"},
        ),
    ]
    layout = _layout(
        300,
        yaxis={"title": {"text": "latency ms"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "requests/s"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
        },
    )
    return _json(go.Figure([*lines, *rates], layout=layout))


def drill_history(table: Table) -> dict[str, Any]:
    if not table.rows:
        return _empty("No drill yet")
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
        yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "canary share"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1],
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
