"""Django's `{# ... #}` comments end on their line: one spread over two lines is printed on
the page as text. Longer comments use {% comment %}."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_no_template_spreads_a_short_comment_over_lines() -> None:
    broken = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert broken == []
