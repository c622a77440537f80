"""What every profile section shares: the error that names a dotted field, non-empty text,
and secrets given inline or through an environment variable (``<name>_env``).

The section parsers (profile.py, mongo_settings.py, repo_settings.py, drill_settings.py)
import from here, so none of them needs to import another."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class ProfileError(ValueError):
    """A profile problem; ``str()`` reads ``field: message``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def text(dotted: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(dotted, "must be a non-empty string")
    return value


def env_value(dotted: str, variable: str, env: Mapping[str, str]) -> str:
    """The value of ``variable``; a missing or empty variable is refused, naming it."""
    value = env.get(variable)
    if not value:
        state = "is not set" if value is None else "is empty"
        raise ProfileError(dotted, f"environment variable {variable} {state}")
    return value


def secret(
    table: Mapping[str, Any],
    section: str,
    name: str,
    env: Mapping[str, str],
    check: Callable[[str, Any], str] = text,
) -> str | None:
    """A secret given inline (``name``) or by the variable ``name_env`` names; both at once
    is ambiguous, so refused. ``check`` validates the value under the key it came from."""
    env_key = f"{name}_env"
    if name in table and env_key in table:
        raise ProfileError(f"{section}.{name}", f"give either {name} or {env_key}, not both")
    if name in table:
        return check(f"{section}.{name}", table[name])
    if env_key in table:
        variable = text(f"{section}.{env_key}", table[env_key])
        return check(f"{section}.{env_key}", env_value(f"{section}.{env_key}", variable, env))
    return None
