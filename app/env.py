"""Typed helpers that read settings from the environment and fail loudly on bad values."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str | None = None) -> str:
    """A string setting; without a default the variable is required."""
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"environment variable {name} is required")
        return default
    return value


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None


def envlist(name: str, default: str = "") -> list[str]:
    """A comma-separated list; blanks dropped."""
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def envpairs(name: str, default: str = "") -> list[tuple[str, str]]:
    """A comma-separated list of ``key=value`` pairs, in order (a key may repeat); a pair
    without ``=`` or with an empty side fails loudly."""
    pairs: list[tuple[str, str]] = []
    for part in envlist(name, default):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name}: {part!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return pairs
