"""The one scrubbing boundary for a run's secrets (no Django: the CLI and the portal share it).

Checks quote what services answer, and services echo what they were sent: FastAPI's 422
``input`` field repeats the login body, debug pages repeat headers, a text error may repeat
anything. So no check can be trusted to keep secrets out of its own evidence. Instead every
outcome passes through the run's :class:`Scrubber` where the runner produces it
(checks/engine/runner.py), drill timelines pass through it before the portal stores them
(checks/engine/hooks.py), and log records through :class:`ScrubFilter` before a handler
writes them. What is scrubbed:

- the profile's secrets, from ``Profile.secret_values()`` (probe password, OTP secret, hook
  headers, Mongo URI and its credentials, repository token, and whatever a login style adds);
- secrets learned while the run goes, given to ``Target.add_secret`` (tokens from logins).

Each secret is also matched in the spellings an echo produces: URL-encoded (form bodies,
query strings), JSON- and Python-escaped, HTML-escaped and base64 (Basic credentials).
Values shorter than ``MIN_SECRET_CHARS`` are not scrubbed: masking every "abc" in a page
would destroy evidence and protect nothing worth protecting. A service that echoes only a part
of a secret (say its first half) is not caught; one that echoes it whole, in any of the
spellings above, is.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
import weakref
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import quote, quote_plus

from checks.engine.outcome import Outcome, Verdict

MASK = "***"
MIN_SECRET_CHARS = 4

_live: weakref.WeakSet[Scrubber] = weakref.WeakSet()
_live_lock = threading.Lock()


def spellings(secret: str) -> set[str]:
    """``secret`` and the forms an echo of it may take."""
    found = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
    }
    raw = secret.encode()
    found |= {
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    # %3a and %3A are the same byte; services differ in which they write.
    found |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), s) for s in list(found)}
    return {s for s in found if len(s) >= MIN_SECRET_CHARS}


class Scrubber:
    """Replaces every known secret of one run with ``***`` in text and JSON-like data.

    Thread-safe: checks run in threads and add secrets (tokens) while others scrub. Every
    live scrubber also serves :class:`ScrubFilter`, so log lines are scrubbed of the secrets
    of every run in progress in this process.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for value in secrets:
            self.add(value)
        with _live_lock:
            _live.add(self)

    def add(self, value: str | None) -> None:
        """Scrub ``value`` from now on (ignored when empty or shorter than the minimum)."""
        if not isinstance(value, str) or len(value) < MIN_SECRET_CHARS:
            return
        with self._lock:
            if value not in self._secrets:
                self._secrets.add(value)
                self._pattern = None

    @property
    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._secrets)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                forms = set().union(*(spellings(s) for s in self._secrets))
                # Longest first, so a secret's encoded form wins over a secret inside it.
                ordered = sorted(forms, key=lambda s: (-len(s), s))
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            return self._pattern

    def text(self, value: str) -> str:
        pattern = self._compiled()
        return value if pattern is None else pattern.sub(MASK, value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like data (dicts, lists, tuples, strings; keys too) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self.data(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def outcome(self, outcome: Outcome) -> Outcome:
        return replace(
            outcome, summary=self.text(outcome.summary), evidence=self.data(outcome.evidence)
        )

    def verdict(self, verdict: Verdict) -> Verdict:
        return replace(
            verdict, summary=self.text(verdict.summary), evidence=self.data(verdict.evidence)
        )


def scrub_live(text: str) -> str:
    """``text`` scrubbed of the secrets of every run in progress in this process."""
    with _live_lock:
        scrubbers = list(_live)
    for scrubber in scrubbers:
        text = scrubber.text(text)
    return text


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class ScrubFilter(logging.Filter):
    """A handler filter: the record's message, arguments, extra fields and exception text
    are scrubbed of every live run's secrets before any formatter sees them.

    Install it on handlers (app/settings.py LOGGING does), not loggers: a logger's filters
    do not see records propagated from its children.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        with _live_lock:
            active = bool(_live)
        if not active:
            return True
        record.msg = scrub_live(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, scrub_live(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_live(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_live(record.stack_info)
        return True
