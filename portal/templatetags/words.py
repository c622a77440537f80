"""``{{ value|words }}``: a stored machine value (``in_progress``, ``na``, ``item_done``) as
words for a page ("in progress", "not applicable", "item done"). Model fields use their
choices' display (``get_<field>_display``); this is for values that reach a template without
their model: readiness states, snapshot JSON, gate findings, ``values()`` rows."""

from __future__ import annotations

from django import template

register = template.Library()

# Values whose words are not just the value with spaces.
WORDS = {
    "na": "not applicable",
    "skip": "skipped",
    "fail": "failed",
    "pass": "passed",
    "error": "errored",
}


@register.filter
def words(value: object) -> str:
    """Check keys (``load.target_rps``) stay as they are: they are names, not labels.
    ``last_pass:load.target_rps`` → "last pass: load.target_rps"."""
    text = "" if value is None else str(value)
    if ":" in text:
        head, tail = text.split(":", 1)
        return f"{words(head)}: {tail}"
    if "." in text:
        return text
    return WORDS.get(text, text.replace("_", " "))
