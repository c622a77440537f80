"""The tables behind every chart: what a figure is drawn from and what an export returns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core import csvsafe


@dataclass
class Table:
    """Rows of plain values under named columns. ``note`` says why a table is empty when
    the data behind it cannot exist here (an app that is not installed)."""

    name: str
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    note: str = ""

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def to_csv(table: Table) -> str:
    """The table as CSV, every cell neutralised against formula injection (core.csvsafe)."""
    rows = (["" if v is None else _plain(v) for v in row] for row in table.rows)
    return csvsafe.to_csv(table.columns, rows)


def to_json(table: Table) -> str:
    doc = {
        "table": table.name,
        "title": table.title,
        "columns": table.columns,
        "rows": [{k: _plain(v) for k, v in rec.items()} for rec in table.records()],
        "note": table.note,
    }
    return json.dumps(doc, indent=1)
