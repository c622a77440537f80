"""core.csvsafe: cells a spreadsheet would run as formulas are neutralised (OWASP)."""

from __future__ import annotations

import csv
import io

import pytest

from core import csvsafe


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("https://evil.example.com","click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
        "\uff1d1+1",  # a full-width equals sign
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(cell: str) -> None:
    assert csvsafe.safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["orders", "1-2", "a=b", "", " =x", 42, -5, 1.5, None, True])
def test_everything_else_is_written_as_it_is(cell: object) -> None:
    assert csvsafe.safe_cell(cell) == cell


def test_the_document_round_trips_with_quotes_commas_and_newlines() -> None:
    rows = [["=1+1", 'say "hi", twice\nthen stop', -3], ["plain", "@me", 0]]
    text = csvsafe.to_csv(["a", "b", "c"], rows)
    assert list(csv.reader(io.StringIO(text))) == [
        ["a", "b", "c"],
        ["'=1+1", 'say "hi", twice\nthen stop', "-3"],
        ["plain", "'@me", "0"],
    ]


def test_the_writer_neutralises_every_row_it_writes() -> None:
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["-danger", 1])
    writer.writerows([["+x"], ["ok"]])
    assert out.getvalue() == "'-danger,1\n'+x\nok\n"
