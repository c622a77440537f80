"""The profile reference (docs/profile.md) as HTML for the portal, so a lead filling in a
profile reads the same document the repository keeps, not a copy that drifts from it.

Rendered with markdown-it-py (CommonMark and tables; raw HTML in the file is not passed
through). Headings get ids from their text, and each row of a field table gets an anchor per
setting its first cell names (``auth.password`` / ``auth.password_env``, or ``paths.health``
``ping_db`` ...), so a form links a setting to ``/docs/profile/#auth.password_env``.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from markdown_it import MarkdownIt
from markdown_it.token import Token

PROFILE_DOC = Path(settings.BASE_DIR) / "docs" / "profile.md"
_SETTING = re.compile(r"^[a-z_]+(\.[a-z_]+)?$")


class ReferenceMissing(Exception):
    """docs/profile.md is not where the portal runs (an image built without it)."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _row_anchors(inline: Token) -> list[str]:
    """The settings a field table's first cell names: ``a.b`` then bare keys of section a."""
    anchors: list[str] = []
    section = ""
    for child in inline.children or []:
        if child.type != "code_inline" or not _SETTING.match(child.content):
            continue
        name = child.content
        if "." in name:
            section = name.split(".", 1)[0]
        elif section:
            name = f"{section}.{name}"
        else:
            continue
        if name not in anchors:
            anchors.append(name)
    return anchors


def _add_anchors(tokens: list[Token]) -> None:
    seen: set[str] = set()
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            slug = _slug(tokens[i + 1].content)
            if slug and slug not in seen:
                token.attrSet("id", slug)
                seen.add(slug)
        elif token.type == "td_open" and tokens[i - 1].type == "tr_open":
            inline = tokens[i + 1]
            anchors = [a for a in _row_anchors(inline) if a not in seen]
            seen.update(anchors)
            if anchors:
                tokens[i - 1].attrSet("id", anchors[0])
                marks = [Token("html_inline", "", 0) for _ in anchors[1:]]
                for mark, anchor in zip(marks, anchors[1:], strict=True):
                    mark.content = f'<span id="{html.escape(anchor)}"></span>'
                inline.children = [*marks, *(inline.children or [])]


@lru_cache(maxsize=4)
def _render(path: Path, mtime_ns: int) -> str:
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(path.read_text(encoding="utf-8"))
    _add_anchors(tokens)
    return str(parser.renderer.render(tokens, parser.options, {}))


def profile_reference_html(path: Path = PROFILE_DOC) -> str:
    """docs/profile.md as HTML (re-rendered when the file changes)."""
    try:
        return _render(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise ReferenceMissing(f"{path} is missing") from None
