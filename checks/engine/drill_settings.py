"""The profile's drill sections ``[hooks]``, ``[load]``, ``[alerts]``, ``[rollout]``: typed,
frozen, validated (see docs/profile.md).

Kept apart from profile.py like the other large sections. Hook headers often carry a
credential: they never appear in a repr, and ``${token}`` in a header value is replaced by
``hooks.token`` (or the variable ``hooks.token_env`` names; the portal fills that from its
encrypted store) so the TOML text itself need not hold the secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from checks.engine.fields import ProfileError, env_value, secret
from checks.engine.fields import text as _text
from checks.engine.outcome import MissingSetting

HOOK_NAMES = (
    "redis_down",
    "redis_up",
    "db_down",
    "db_up",
    "errors_on",
    "errors_off",
    "canary",
    "rollback",
)
TOKEN_PLACEHOLDER = "${token}"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_HOOK_KEYS = {"preset", "token", "token_env", "timeout_s", *HOOK_NAMES}
_ACTION_KEYS = {"method", "url", "headers", "headers_env", "json"}
# Hook headers whose values are credentials (besides the hooks token wherever it is used).
_CREDENTIAL_HEADER = re.compile(
    r"auth|token|key|secret|session|cookie|signature|password|credential|api", re.IGNORECASE
)


def _error(dotted: str, message: str) -> Exception:
    return ProfileError(dotted, message)


@dataclass(frozen=True)
class HookAction:
    """One named drill action: an HTTP request to a chaos tool, deployment API or pipeline."""

    name: str
    url: str  # absolute, or a path on service.base_url
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    json: Any = None


@dataclass(frozen=True)
class HooksSettings:
    actions: Mapping[str, HookAction] = field(default_factory=dict)
    timeout_s: float = 10.0
    token: str | None = field(default=None, repr=False)  # what ${token} was replaced by

    def secret_values(self) -> list[str]:
        """The hooks token, and the values of hook headers named like credentials (with the
        credential part of ``Scheme credential``), for the run's scrubber."""
        found: list[str] = [self.token] if self.token else []
        for action in self.actions.values():
            for header, value in action.headers.items():
                if not _CREDENTIAL_HEADER.search(header):
                    continue
                found.append(value)
                scheme, _, credential = value.partition(" ")
                if credential and scheme.isalpha():
                    found.append(credential.strip())
        return found

    def action(self, name: str) -> HookAction:
        """The named action, or MissingSetting (the drill is skipped, naming the hook)."""
        found = self.actions.get(name)
        if found is None:
            raise MissingSetting(f"hooks.{name}", "the drill needs this hook")
        return found


@dataclass(frozen=True)
class LoadSettings:
    target_rps: float | None = None
    duration_s: float = 20.0
    p95_ms: float = 500.0
    max_error_rate: float = 0.01
    tolerance: float = 0.10  # achieved rate may fall this share short of the offered rate
    users: int | None = None  # None: derived from the rate (about 4 requests/s per user)
    cache_hit_target: float | None = None
    workers: int = 0  # >0: run Locust as a master and wait for this many remote workers
    master_bind_host: str = "*"
    master_bind_port: int = 5557


@dataclass(frozen=True)
class AlertSettings:
    matchers: Mapping[str, str] = field(default_factory=dict)  # empty: {service: name}
    deadline_s: float = 180.0
    resolve_deadline_s: float = 180.0
    traffic_rps: float = 5.0


@dataclass(frozen=True)
class RolloutSettings:
    canary_weight: int = 10
    canary_version: str | None = None  # None: any version other than the stable one
    sample_size: int = 200
    window_s: float = 10.0
    deadline_s: float = 30.0
    max_error_rate: float = 0.01


# --- validators ---


def _number(dotted: str, value: Any, low: float, high: float, *, open_low: bool = True) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        bound = f"above {low:g}" if open_low else f"at least {low:g}"
        raise _error(dotted, f"must be a number {bound} and at most {high:g}")
    return float(value)


def _integer(dotted: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _error(dotted, f"must be an integer between {low} and {high}")
    return value


def _table(dotted: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(dotted, "must be a table")
    for key in value:
        if key not in allowed:
            raise _error(f"{dotted}.{key}", "unknown key")
    return value


def _strings(dotted: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _error(dotted, "must be a table of strings")
    return {str(k): _text(f"{dotted}.{k}", v) for k, v in value.items()}


# --- [hooks] ---


def _reference_preset(weight: int) -> dict[str, dict[str, Any]]:
    """The reference service's own /__drill/ endpoints (reference-api.md, "Drill hooks")."""
    auth = {"Authorization": f"Bearer {TOKEN_PLACEHOLDER}"}
    release = "/__drill/release"

    def hook(url: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"url": url, "headers": auth, "json": body}

    return {
        "redis_down": hook("/__drill/redis", {"state": "down"}),
        "redis_up": hook("/__drill/redis", {"state": "up"}),
        "db_down": hook("/__drill/db", {"state": "down"}),
        "db_up": hook("/__drill/db", {"state": "up"}),
        "errors_on": hook("/__drill/errors", {"rate": 0.5}),
        "errors_off": hook("/__drill/errors", {"rate": 0.0}),
        "canary": hook(release, {"canary_version": "canary", "weight": weight}),
        "rollback": hook(release, {"canary_version": "canary", "weight": 0}),
    }


def _hook_url(dotted: str, value: Any) -> str:
    text = _text(dotted, value)
    if text.startswith("/"):
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(dotted, "must be an http(s) URL or a path starting with /")
    return text


def _action(name: str, table: Any, token: str | None, env: Mapping[str, str]) -> HookAction:
    dotted = f"hooks.{name}"
    value = _table(dotted, table, _ACTION_KEYS)
    if "url" not in value:
        raise _error(f"{dotted}.url", "is required")
    method = _text(f"{dotted}.method", value.get("method", "POST")).upper()
    if method not in _METHODS:
        raise _error(f"{dotted}.method", f"must be one of {', '.join(_METHODS)}")
    headers = _strings(f"{dotted}.headers", value.get("headers", {}))
    for header, template in headers.items():
        if TOKEN_PLACEHOLDER in template:
            if token is None:
                raise _error(
                    f"{dotted}.headers.{header}",
                    f"uses {TOKEN_PLACEHOLDER} but hooks.token / hooks.token_env is not set",
                )
            headers[header] = template.replace(TOKEN_PLACEHOLDER, token)
    if "headers_env" in value:
        for header, variable in _strings(f"{dotted}.headers_env", value["headers_env"]).items():
            headers[header] = env_value(f"{dotted}.headers_env.{header}", variable, env)
    return HookAction(
        name=name,
        url=_hook_url(f"{dotted}.url", value["url"]),
        method=method,
        headers=headers,
        json=value.get("json"),
    )


def _token(table: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    return secret(table, "hooks", "token", env, _text)


def parse_hooks(value: Any, env: Mapping[str, str], *, canary_weight: int = 10) -> HooksSettings:
    """Validate ``[hooks]``. ``preset = "reference"`` fills every action with the reference
    service's /__drill/ endpoints; actions given explicitly replace the preset's."""
    table = _table("hooks", value, _HOOK_KEYS)
    token = _token(table, env)
    actions: dict[str, Any] = {}
    if "preset" in table:
        if table["preset"] != "reference":
            raise _error("hooks.preset", 'must be "reference" (the /__drill/ endpoints)')
        actions.update(_reference_preset(canary_weight))
    actions.update({name: table[name] for name in HOOK_NAMES if name in table})
    timeout = _number("hooks.timeout_s", table.get("timeout_s", 10.0), 0, 120)
    return HooksSettings(
        actions={name: _action(name, spec, token, env) for name, spec in actions.items()},
        timeout_s=timeout,
        token=token,
    )


# --- [load], [alerts], [rollout] ---

_LOAD_NUMBERS: dict[str, tuple[float, float]] = {
    "target_rps": (0, 100_000),
    "duration_s": (0, 600),
    "p95_ms": (0, 600_000),
    "max_error_rate": (0, 1),
    "tolerance": (0, 1),
    "cache_hit_target": (0, 1),
}


def parse_load(value: Any) -> LoadSettings:
    table = _table(
        "load", value, {*_LOAD_NUMBERS, "users", "workers", "master_bind_host", "master_bind_port"}
    )
    settings: dict[str, Any] = {}
    for key, (low, high) in _LOAD_NUMBERS.items():
        if key in table:
            open_low = key not in ("max_error_rate", "tolerance", "cache_hit_target")
            settings[key] = _number(f"load.{key}", table[key], low, high, open_low=open_low)
    if "users" in table:
        settings["users"] = _integer("load.users", table["users"], 1, 10_000)
    if "workers" in table:
        settings["workers"] = _integer("load.workers", table["workers"], 0, 1000)
    if "master_bind_host" in table:
        settings["master_bind_host"] = _text("load.master_bind_host", table["master_bind_host"])
    if "master_bind_port" in table:
        settings["master_bind_port"] = _integer(
            "load.master_bind_port", table["master_bind_port"], 1, 65535
        )
    return LoadSettings(**settings)


def parse_alerts(value: Any) -> AlertSettings:
    table = _table("alerts", value, {"matchers", "deadline_s", "resolve_deadline_s", "traffic_rps"})
    settings: dict[str, Any] = {}
    if "matchers" in table:
        settings["matchers"] = _strings("alerts.matchers", table["matchers"])
    for key, high in (("deadline_s", 3600), ("resolve_deadline_s", 3600), ("traffic_rps", 100)):
        if key in table:
            settings[key] = _number(f"alerts.{key}", table[key], 0, high)
    return AlertSettings(**settings)


def parse_rollout(value: Any) -> RolloutSettings:
    table = _table(
        "rollout",
        value,
        {
            "canary_weight",
            "canary_version",
            "sample_size",
            "window_s",
            "deadline_s",
            "max_error_rate",
        },
    )
    settings: dict[str, Any] = {}
    if "canary_weight" in table:
        settings["canary_weight"] = _integer("rollout.canary_weight", table["canary_weight"], 1, 99)
    if "canary_version" in table:
        settings["canary_version"] = _text("rollout.canary_version", table["canary_version"])
    if "sample_size" in table:
        settings["sample_size"] = _integer("rollout.sample_size", table["sample_size"], 20, 100_000)
    for key, high in (("window_s", 3600), ("deadline_s", 3600)):
        if key in table:
            settings[key] = _number(f"rollout.{key}", table[key], 0, high)
    if "max_error_rate" in table:
        settings["max_error_rate"] = _number(
            "rollout.max_error_rate", table["max_error_rate"], 0, 1, open_low=False
        )
    return RolloutSettings(**settings)
