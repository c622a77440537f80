"""CSV that a spreadsheet opens as data, never as formulas (OWASP, "CSV Injection").

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``, ``=cmd|...``,
``@SUM(...)``), so such a cell gets a leading single quote, which makes the spreadsheet show
the text as it is. Only text is touched: numbers, dates, booleans and None are written as they
are (a negative number is data, not a formula). Every CSV the portal writes goes through
:func:`safe_cell` — use :func:`writer` (a ``csv.writer`` that neutralises every row) or
:func:`to_csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The full-width forms some spreadsheets also accept as operators.
_WIDE_STARTS = ("\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS + _WIDE_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


class SafeWriter:
    """A ``csv.writer`` whose rows are neutralised cell by cell."""

    def __init__(self, out: _Writable, **options: Any) -> None:
        options.setdefault("lineterminator", "\n")
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Writable, **options: Any) -> SafeWriter:
    return SafeWriter(out, **options)


def to_csv(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV document: the header, then the rows, every cell neutralised."""
    out = io.StringIO()
    w = writer(out)
    w.writerow(columns)
    w.writerows(rows)
    return out.getvalue()
