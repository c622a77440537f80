"""A check's evidence as readable HTML: key/values, one request/answer per line with its headers
and body, JSON bodies pretty-printed, long values cut with a way to see all of them.

Every text that reaches the page is escaped here (keys included); nothing is marked safe that
did not go through ``escape``/``format_html``. The evidence was scrubbed of secrets before it
was stored (checks/engine/scrub.py): this only shows it, it never adds anything.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

SHORT_CHARS = 300  # a text longer than this shows its start and "show all"
SHORT_LINES = 12  # so does a text (or pretty JSON) of more lines
FULL_CHARS = 100_000  # "show all" shows this much at most, and says so
MAX_ENTRIES = 50  # keys or list items shown before "N more"
MAX_DEPTH = 6  # deeper structures are shown as pretty JSON


def render(evidence: Any) -> SafeString:
    """The evidence of one result as HTML ("" for none)."""
    if evidence in (None, {}, [], ""):
        return mark_safe("")
    return format_html('<div class="evidence">{}</div>', _node(evidence, 0))


def _node(value: Any, depth: int) -> SafeString:
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return _pretty(value)
        if _is_exchange(value):
            return _exchange(value, depth)
        return _mapping(value, depth)
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return _pretty(value)
        return _sequence(value, depth)
    if isinstance(value, str):
        return _text(value)
    return format_html('<span class="ev-scalar">{}</span>', _scalar(value))


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def _mapping(value: dict[str, Any], depth: int) -> SafeString:
    entries = list(value.items())
    rows = format_html_join(
        "",
        "<dt>{}</dt><dd>{}</dd>",
        ((str(key), _field(str(key), item, depth)) for key, item in entries[:MAX_ENTRIES]),
    )
    more = _more(len(entries) - MAX_ENTRIES, "more keys")
    return format_html('<dl class="ev-kv">{}</dl>{}', rows, more)


def _field(key: str, value: Any, depth: int) -> SafeString:
    """A value under ``key``: bodies are pretty-printed when they hold JSON."""
    if key == "body":
        return _body(value)
    if key == "headers" and isinstance(value, dict):
        return _headers(value)
    return _node(value, depth + 1)


def _sequence(value: list[Any], depth: int) -> SafeString:
    flat = value and all(isinstance(v, str | int | float | bool) for v in value)
    if flat and len(value) <= MAX_ENTRIES and sum(len(str(v)) for v in value) <= SHORT_CHARS:
        return format_html(
            '<span class="ev-list">{}</span>',
            format_html_join(", ", "<code>{}</code>", ((_scalar(v),) for v in value)),
        )
    items = format_html_join(
        "", "<li>{}</li>", ((_node(v, depth + 1),) for v in value[:MAX_ENTRIES])
    )
    more = _more(len(value) - MAX_ENTRIES, "more")
    return format_html('<ol class="ev-items">{}</ol>{}', items, more)


def _more(hidden: int, what: str) -> SafeString:
    if hidden <= 0:
        return mark_safe("")
    return format_html('<p class="muted ev-hidden">… {} {} not shown</p>', hidden, what)


def _is_exchange(value: dict[str, Any]) -> bool:
    """One request and its answer (checks/catalog/_util.py ``exchange``)."""
    return isinstance(value.get("request"), str) and "status" in value


def _exchange(value: dict[str, Any], depth: int) -> SafeString:
    elapsed = value.get("elapsed_ms")
    line = format_html(
        '<p class="ev-line"><code>{}</code> → <strong class="ev-status">{}</strong>{}</p>',
        value["request"],
        _scalar(value["status"]),
        format_html(' <span class="muted">{} ms</span>', elapsed) if elapsed is not None else "",
    )
    rest = {k: v for k, v in value.items() if k not in ("request", "status", "elapsed_ms")}
    return format_html(
        '<div class="ev-exchange">{}{}</div>', line, _mapping(rest, depth) if rest else ""
    )


def _headers(value: dict[str, Any]) -> SafeString:
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td></tr>",
        (
            (str(name), _text(item) if isinstance(item, str) else _node(item, MAX_DEPTH))
            for name, item in list(value.items())[:MAX_ENTRIES]
        ),
    )
    return format_html(
        '<table class="ev-headers">{}</table>{}', rows, _more(len(value) - MAX_ENTRIES, "more")
    )


def _body(value: Any) -> SafeString:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return _text(value, block=True)
        if isinstance(parsed, dict | list):
            # Re-indented as stored, never decoded and re-encoded: a string a service wrote
            # as \u escapes stays escaped, so nothing the scrubber did not see appears here.
            return _text(reindent(value), block=True, css="ev-json")
        return _text(value, block=True)
    if isinstance(value, dict | list):
        return _pretty(value)
    return _node(value, MAX_DEPTH)


_MAX_INDENT = 20  # levels; deeper JSON stays at this indentation


def reindent(raw: str) -> str:
    """Valid JSON text laid out two spaces per level, every character of its strings kept as
    it was written (escapes included). Linear, whatever the depth."""
    out: list[str] = []
    level = 0
    i, n = 0, len(raw)
    in_string = False
    while i < n:
        ch = raw[i]
        if in_string:
            if ch == "\\":
                out.append(raw[i : i + 2])
                i += 2
                continue
            out.append(ch)
            in_string = ch != '"'
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch in "{[":
            close = "}" if ch == "{" else "]"
            j = i + 1
            while j < n and raw[j] in " \t\r\n":
                j += 1
            if j < n and raw[j] == close:
                out.append(ch + close)
                i = j + 1
                continue
            level += 1
            out.append(ch + "\n" + "  " * min(level, _MAX_INDENT))
        elif ch in "}]":
            level -= 1
            out.append("\n" + "  " * min(max(level, 0), _MAX_INDENT) + ch)
        elif ch == ",":
            out.append(",\n" + "  " * min(level, _MAX_INDENT))
        elif ch == ":":
            out.append(": ")
        elif ch not in " \t\r\n":
            out.append(ch)
        i += 1
    return "".join(out)


def _pretty(value: Any) -> SafeString:
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    except (RecursionError, ValueError):
        text = "(nested too deep to show)"
    return _text(text, block=True, css="ev-json")


def _text(value: str, *, block: bool = False, css: str = "") -> SafeString:
    """Text, escaped; a long one shows its start and the rest on demand."""
    lines = value.count("\n") + 1
    multiline = block or lines > 1
    if len(value) <= SHORT_CHARS and lines <= SHORT_LINES:
        if multiline:
            return format_html('<pre class="ev-text {}">{}</pre>', css, value)
        return format_html('<span class="ev-text">{}</span>', value)
    head = "\n".join(value[:SHORT_CHARS].splitlines()[:SHORT_LINES])
    full = value[:FULL_CHARS]
    cut = (
        format_html(
            '<p class="muted">Cut at {} of {} characters.</p>', f"{FULL_CHARS:,}", f"{len(value):,}"
        )
        if len(value) > FULL_CHARS
        else ""
    )
    return format_html(
        '<details class="ev-more"><summary><span class="ev-head">{}</span>… '
        '<span class="muted">show all ({} characters)</span></summary>'
        '<pre class="ev-text {}">{}</pre>{}</details>',
        head,
        f"{len(value):,}",
        css,
        full,
        cut,
    )
