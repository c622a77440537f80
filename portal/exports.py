"""The sign-off history as CSV or JSON, a chunk at a time (the history has no upper bound).
Every CSV cell goes through core.csvsafe, so a note like ``=HYPERLINK(...)`` stays text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from core import csvsafe
from portal.selectors import EXPORT_COLUMNS


class _Line:
    """A file-like object whose write returns what it was given (csv writes one row)."""

    def write(self, text: str) -> str:
        return text


def csv_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csvsafe.writer(_Line())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        cells = dict(row, payload=json.dumps(row["payload"], sort_keys=True, cls=DjangoJSONEncoder))
        yield writer.writerow(cells[column] for column in EXPORT_COLUMNS)


def json_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON array, an event per line."""
    yield "["
    for i, row in enumerate(rows):
        yield ("," if i else "") + "\n" + json.dumps(row, cls=DjangoJSONEncoder)
    yield "\n]\n"
