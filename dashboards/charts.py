"""What a dashboard page shows for each table: the figure, where to export it, whether the
table is small enough to print under the chart (the no-JavaScript view of the same data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dashboards import figures
from dashboards.tables import Table

INLINE_ROWS = 40


@dataclass
class Chart:
    table: Table
    figure: dict[str, Any] | None
    export_url: str  # ends with the table name; ".csv" / ".json" is appended

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def dom_id(self) -> str:
        return f"chart-{self.name}"

    @property
    def data_id(self) -> str:
        return f"chart-{self.name}-data"

    @property
    def csv_url(self) -> str:
        return f"{self.export_url}.csv"

    @property
    def json_url(self) -> str:
        return f"{self.export_url}.json"

    @property
    def inline(self) -> bool:
        return len(self.table.rows) <= INLINE_ROWS


FIGURES: dict[str, Callable[[Table], dict[str, Any]]] = {
    "portfolio:heatmap": figures.readiness_heatmap,
    "portfolio:states": figures.services_by_state,
    "portfolio:failing_checks": figures.failing_checks,
    "portfolio:drills_overdue": figures.drills_overdue,
    "portfolio:levels": figures.levels_by_team,
    "team:services": figures.team_services,
    "team:sections": lambda t: figures.readiness_heatmap(t, y="service"),
    "service:readiness_history": figures.readiness_history,
    "service:check_timeline": figures.check_timeline,
    "service:load": figures.load_history,
    "service:drills": figures.drill_history,
}


def charts(scope: str, tables: dict[str, Table], export_base: str) -> dict[str, Chart]:
    out = {}
    for name, table in tables.items():
        draw = FIGURES.get(f"{scope}:{name}")
        out[name] = Chart(
            table=table,
            figure=draw(table) if draw else None,
            export_url=f"{export_base}{name}",
        )
    return out
