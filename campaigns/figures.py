"""The campaign's progress chart, built on the server (plotly) and drawn by the browser from
JSON (static/js/dashboards.js, as the dashboards' charts: no inline script under the CSP)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import plotly.graph_objects as go

from campaigns.selectors import ProgressPoint


def progress_over_time(
    points: list[ProgressPoint], starts_on: date, due_on: date
) -> dict[str, Any]:
    """One line per team (% of its services in scope that are there), one for all teams,
    and the due date as a dashed vertical line; the x axis runs from the start to the due
    date (or to the last point, when later)."""
    teams: dict[str, list[ProgressPoint]] = {}
    totals: dict[datetime, list[int]] = {}
    for p in points:
        teams.setdefault(p.team_name, []).append(p)
        total = totals.setdefault(p.at, [0, 0])
        total[0] += p.in_scope
        total[1] += p.there
    traces = [
        go.Scatter(
            name=name,
            x=[p.at.isoformat() for p in rows],
            y=[p.pct for p in rows],
            customdata=[f"{p.there}/{p.in_scope}" for p in rows],
            mode="lines+markers",
            line={"shape": "hv"},
            hovertemplate=name + ": %{y}% (%{customdata})<extra></extra>",
        )
        for name, rows in teams.items()
    ]
    ats = sorted(totals)
    traces.append(
        go.Scatter(
            name="all teams",
            x=[at.isoformat() for at in ats],
            y=[round(100 * totals[at][1] / totals[at][0]) if totals[at][0] else 100 for at in ats],
            mode="lines",
            line={"shape": "hv", "width": 4, "color": "#1d2330", "dash": "dot"},
        )
    )
    due = datetime.combine(due_on, time(23, 59)).isoformat()
    start = datetime.combine(starts_on, time(0, 0)).isoformat()
    end = max(due, *(at.isoformat() for at in ats))
    layout = {
        "template": "none",
        "height": 340,
        "margin": {"l": 50, "r": 20, "t": 20, "b": 40},
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "legend": {"orientation": "h", "y": -0.2},
        "yaxis": {"title": {"text": "% of services there"}, "range": [0, 105]},
        "xaxis": {"type": "date", "range": [start, end]},
        "shapes": [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": due,
                "x1": due,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#c53030", "dash": "dash"},
            }
        ],
        "annotations": [
            {
                "x": due,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": f"due {due_on.isoformat()}",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": "#c53030"},
            }
        ],
    }
    return go.Figure(traces, layout=layout).to_plotly_json()
