"""Configuration of the reference service: one frozen dataclass, read from the environment.

Secrets have no defaults on purpose (STYLE.md rule 7): a service that silently starts with a
well-known password is exactly what Preflight exists to catch.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# One rule broken per flaw. The names are a contract: checks and tests elsewhere use them.
FLAWS: dict[str, str] = {
    "health_down": "/health answers 500",
    "ping_db_broken": "/ping-db answers 503",
    "crud_delete_noop": "DELETE answers 204 but the item stays readable",
    "offset_pagination": "the cursor is a plain offset (skips/duplicates under writes)",
    "no_rate_limit": "neither login nor OTP verification is rate limited",
    "jwt_no_exp": "access tokens carry no exp claim",
    "refresh_reuse": "refresh tokens can be used more than once",
    "no_scope_check": "a token without the required scope is not refused",
    "otp_reuse": "an already used OTP code is accepted again",
    "cors_wildcard": "Access-Control-Allow-Origin: * for every origin",
    "no_hsts": "no Strict-Transport-Security over TLS",
    "no_security_headers": "no CSP / X-Frame-Options / nosniff / Referrer-Policy",
    "no_body_limit": "oversized bodies are accepted",
    "plain_errors": "errors use FastAPI's default {'detail': ...}",
    "openapi_incomplete": "the OpenAPI document omits the /items routes",
    "no_deprecation_header": "GET /v0/items answers without Deprecation/Sunset",
    "no_idempotency": "Idempotency-Key is ignored",
    "no_request_id": "no X-Request-ID on responses",
    "metrics_incomplete": "/metrics has no histograms and no cache counters",
    "ready_ignores_db": "/ready answers 200 while the database is down",
    "redis_hard_dependency": "item reads answer 503 while Redis is down",
    "canary_stuck": "a rollback (release weight 0) is ignored: the canary keeps serving",
    "slow": "requests are served one at a time, 50 ms each (about 20 req/s at most)",
}

DEFAULT_ORIGINS = ("https://app.example.com",)


class ConfigError(ValueError):
    """The configuration cannot describe a service that should start."""


def parse_flaws(names: str | list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """Turn "a,b" or ["a", "b"] into a validated set of flaw names."""
    if isinstance(names, str):
        names = [part for part in names.split(",")]
    cleaned = frozenset(name.strip() for name in names if name.strip())
    unknown = sorted(cleaned - FLAWS.keys())
    if unknown:
        raise ConfigError(
            f"unknown flaw(s): {', '.join(unknown)}; valid flaws are: {', '.join(sorted(FLAWS))}"
        )
    return cleaned


def _valid_base32(secret: str) -> bool:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    try:
        return len(base64.b32decode(padded, casefold=True)) > 0
    except (binascii.Error, ValueError):
        return False


@dataclass(frozen=True)
class RefConfig:
    probe_password: str
    otp_secret: str
    probe_username: str = "probe"
    drill_token: str | None = None
    flaws: frozenset[str] = field(default_factory=frozenset)
    redis_url: str | None = None
    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS
    login_limit: int = 10
    otp_limit: int = 5
    # Both limits count attempts per fixed window of this many seconds.
    rate_window: int = 60
    body_limit: int = 1_048_576
    access_ttl: int = 900
    refresh_ttl: int = 86_400
    jwt_secret: str | None = None
    version: str = "1.0.0"
    https_redirect_to: str | None = None
    cache_ttl: int = 60

    def __post_init__(self) -> None:
        if not self.probe_password:
            raise ConfigError("REF_PROBE_PASSWORD is required and must not be empty")
        if not self.otp_secret or not _valid_base32(self.otp_secret):
            raise ConfigError("REF_OTP_SECRET is required and must be base32")
        # Accept any iterable of names from callers; always store a validated frozenset.
        object.__setattr__(self, "flaws", parse_flaws(tuple(self.flaws)))
        for name in ("login_limit", "otp_limit", "rate_window", "body_limit", "access_ttl"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer")
        if "*" in self.allowed_origins:
            raise ConfigError("'*' is not an allowed origin; list the origins explicitly")

    def has(self, flaw: str) -> bool:
        """Whether the named flaw is switched on (asserts the name is real)."""
        assert flaw in FLAWS, flaw
        return flaw in self.flaws

    def with_overrides(self, **changes: Any) -> RefConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RefConfig:
        """Read REF_* variables; keyword overrides (e.g. from the CLI) win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "probe_username": env.get("REF_PROBE_USERNAME", "probe"),
            "probe_password": _required(env, "REF_PROBE_PASSWORD"),
            "otp_secret": _required(env, "REF_OTP_SECRET"),
            "drill_token": env.get("REF_DRILL_TOKEN") or None,
            "flaws": parse_flaws(env.get("REF_FLAWS", "")),
            "redis_url": env.get("REDIS_URL") or None,
            "allowed_origins": _env_list(env, "REF_ALLOWED_ORIGINS", DEFAULT_ORIGINS),
            "login_limit": _env_int(env, "REF_LOGIN_LIMIT", 10),
            "otp_limit": _env_int(env, "REF_OTP_LIMIT", 5),
            "body_limit": _env_int(env, "REF_BODY_LIMIT", 1_048_576),
            "access_ttl": _env_int(env, "REF_ACCESS_TTL", 900),
            "jwt_secret": env.get("REF_JWT_SECRET") or None,
        }
        values.update(overrides)
        return cls(**values)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"{name} is required (no secret has a default)")
    return value


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    # "10/minute" is accepted too, since that is how people write limits.
    number = raw.split("/", 1)[0].strip()
    try:
        return int(number)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _env_list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())
