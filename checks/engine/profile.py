"""Staging profiles: TOML in, a validated, frozen Profile out (see docs/profile.md).

Validation is strict and names the dotted field at fault, because a profile is written by
hand and a silent default for a typo would make a check test the wrong thing. Secrets named
by ``*_env`` are read from the environment at load time so a run never starts half-configured.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from checks.engine.auth_settings import AuthSettings, parse_auth
from checks.engine.drill_settings import (
    AlertSettings,
    HooksSettings,
    LoadSettings,
    RolloutSettings,
    parse_alerts,
    parse_hooks,
    parse_load,
    parse_rollout,
)
from checks.engine.fields import ProfileError
from checks.engine.fields import text as _text
from checks.engine.mongo_settings import MongoSettings, parse_mongo, uri_secrets
from checks.engine.repo_settings import RepoSettings, parse_repo
from checks.engine.resource_settings import (
    ResourceSettings,
    StatusSettings,
    parse_resource,
    parse_status,
)

__all__ = ["AuthSettings", "Profile", "ProfileError", "load_profile", "parse_profile"]

RESERVED_SECTIONS: tuple[str, ...] = ()  # every section is typed now
_SECRET_WORDS = ("pass", "secret", "token", "key", "auth", "uri", "header", "cookie")
REDACTED = "***"


@dataclass(frozen=True)
class ServiceSettings:
    name: str
    base_url: str


@dataclass(frozen=True)
class PathSettings:
    health: str = "/health"
    ping_db: str = "/ping-db"
    ready: str = "/ready"
    version: str = "/version"
    metrics: str = "/metrics"
    openapi: str = "/openapi.json"
    login: str = "/auth/login"
    refresh: str = "/auth/refresh"
    otp_verify: str = "/auth/otp/verify"
    items: str = "/items"
    legacy_items: str = "/v0/items"
    # Where the header, CORS and request-id checks knock; None: health, else openapi, else /.
    probe: str | None = None
    # A GET route that refuses requests without a valid token; None: items.
    protected: str | None = None

    def probe_path(self) -> str:
        return self.probe or self.health or self.openapi or "/"


@dataclass(frozen=True)
class LimitSettings:
    login_attempts: int = 10
    otp_attempts: int = 5
    body_bytes: int = 1048576
    page_size: int = 3


@dataclass(frozen=True)
class TlsSettings:
    https_url: str | None = None
    http_url: str | None = None
    ca_file: Path | None = None
    min_hsts_max_age: int = 15552000


@dataclass(frozen=True)
class CorsSettings:
    allowed_origin: str | None = None
    foreign_origin: str = "https://evil.example"


@dataclass(frozen=True)
class HttpSettings:
    timeout_s: float = 10.0
    max_body_bytes: int = 5242880
    concurrency: int = 4


@dataclass(frozen=True, repr=False)
class Profile:
    service: ServiceSettings
    auth: AuthSettings = AuthSettings()  # noqa: RUF009 - frozen; auth_settings.py
    paths: PathSettings = PathSettings()
    limits: LimitSettings = LimitSettings()
    tls: TlsSettings = TlsSettings()
    cors: CorsSettings = CorsSettings()
    http: HttpSettings = HttpSettings()
    resource: ResourceSettings = ResourceSettings()  # noqa: RUF009 - frozen
    status: StatusSettings = StatusSettings()  # noqa: RUF009 - frozen; resource_settings.py
    # Reserved for the load/chaos, database, drill and repository checks; validated there.
    load: LoadSettings = LoadSettings()  # noqa: RUF009 - frozen; drill_settings.py
    mongo: MongoSettings = MongoSettings()  # noqa: RUF009 - frozen; mongo_settings.py
    hooks: HooksSettings = HooksSettings()  # noqa: RUF009 - frozen; drill_settings.py
    alerts: AlertSettings = AlertSettings()  # noqa: RUF009 - frozen; drill_settings.py
    rollout: RolloutSettings = RolloutSettings()  # noqa: RUF009 - frozen
    repo: RepoSettings = RepoSettings()  # noqa: RUF009 - frozen; typed: repo_settings.py

    def redacted(self) -> dict[str, Any]:
        """The profile as plain data with every secret replaced, safe to log or show."""
        data = asdict(self)
        for name in AuthSettings.SECRETS:
            if data["auth"][name] is not None:
                data["auth"][name] = REDACTED
        if data["tls"]["ca_file"] is not None:
            data["tls"]["ca_file"] = str(data["tls"]["ca_file"])
        for section in RESERVED_SECTIONS:
            data[section] = _redact_tree(data[section])
        if data["mongo"]["uri"] is not None:
            data["mongo"]["uri"] = REDACTED
        data["repo"] = self.repo.redacted()
        for action in data["hooks"]["actions"].values():
            action["headers"] = dict.fromkeys(action["headers"], REDACTED)
        if data["hooks"]["token"] is not None:
            data["hooks"]["token"] = REDACTED
        return data

    def __repr__(self) -> str:
        return f"Profile({self.redacted()!r})"

    def secret_values(self) -> list[str]:
        """Every secret value this profile holds, derived from its fields (probe password, OTP
        secret, client secret, static token, MongoDB URI credentials, repository and hooks
        tokens): what the run's scrubber (checks/engine/scrub.py) removes from outcomes, drill
        timelines and logs. A new secret field must be added here (tests/engine/
        test_engine_scrub.py checks that every field the redacted form hides is listed)."""
        auth = self.auth
        found: list[str | None] = list(auth.secret_values())
        if auth.otp_secret:
            found.append(auth.otp_secret.lower())
        if auth.username and auth.password:
            found.append(f"{auth.username}:{auth.password}")  # HTTP Basic, once base64'd
        found += uri_secrets(self.mongo.uri)
        found.append(self.repo.token)
        found += self.hooks.secret_values()
        return [value for value in dict.fromkeys(found) if value]


def _redact_tree(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _redact_tree(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, key) for v in value]
    if any(word in key.lower() for word in _SECRET_WORDS):
        return REDACTED
    return value


# --- field validators ----------------------------------------------------------------------


def _http_url(dotted: str, value: Any) -> str:
    text = _text(dotted, value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(dotted, "must be an http(s) URL")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ProfileError(dotted, "must be an http(s) URL") from exc
    return text.rstrip("/") if parts.path in ("", "/") else text


def _origin(dotted: str, value: Any) -> str:
    text = _http_url(dotted, value)
    parts = urlsplit(text)
    if parts.path or parts.query or parts.fragment:
        raise ProfileError(dotted, "must be an origin (scheme://host[:port], no path)")
    return text


def _route(dotted: str, value: Any) -> str:
    text = _text(dotted, value)
    if not text.startswith("/"):
        raise ProfileError(dotted, "must be a path starting with /")
    return text


def _offered_route(dotted: str, value: Any) -> str:
    """A route, or "" for "this service does not offer it": the checks that need the route
    answer skip (``Target.url``), and ``api.openapi`` does not require it documented."""
    return "" if value == "" else _route(dotted, value)


def _int_between(low: int, high: int) -> Callable[[str, Any], int]:
    def check(dotted: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ProfileError(dotted, f"must be an integer between {low} and {high}")
        return value

    return check


def _seconds(dotted: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise ProfileError(dotted, "must be a number of seconds between 0 and 600")
    return float(value)


Validator = Callable[[str, Any], Any]

_SECTIONS: dict[str, tuple[type, dict[str, Validator]]] = {
    "service": (ServiceSettings, {"name": _text, "base_url": _http_url}),
    "paths": (
        PathSettings,
        {f.name: _route if f.name == "probe" else _offered_route for f in fields(PathSettings)},
    ),
    "limits": (
        LimitSettings,
        {
            "login_attempts": _int_between(1, 10000),
            "otp_attempts": _int_between(1, 10000),
            "body_bytes": _int_between(1, 1 << 31),
            "page_size": _int_between(1, 100),
        },
    ),
    "tls": (
        TlsSettings,
        {
            "https_url": _http_url,
            "http_url": _http_url,
            "min_hsts_max_age": _int_between(0, 1 << 31),
        },
    ),
    "cors": (CorsSettings, {"allowed_origin": _origin, "foreign_origin": _origin}),
    "http": (
        HttpSettings,
        {
            "timeout_s": _seconds,
            "max_body_bytes": _int_between(1, 1 << 30),
            "concurrency": _int_between(1, 64),
        },
    ),
}
# Keys handled by hand (secrets, files); they are valid but not in the validator tables.
_SPECIAL_KEYS = {"tls": {"ca_file"}}


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ProfileError(name, "must be a table")
    allowed = set(_SECTIONS[name][1]) | _SPECIAL_KEYS.get(name, set())
    for key in value:
        if key not in allowed:
            raise ProfileError(f"{name}.{key}", "unknown key")
    return value


def _validated(name: str, table: Mapping[str, Any]) -> dict[str, Any]:
    validators = _SECTIONS[name][1]
    return {
        key: validators[key](f"{name}.{key}", v) for key, v in table.items() if key in validators
    }


def parse_profile(
    text: str,
    *,
    env: Mapping[str, str] = os.environ,
    base_dir: Path | None = None,
    check_files: bool = True,
) -> Profile:
    """Parse and validate a profile given as TOML text.

    ``base_dir`` anchors relative file paths (``tls.ca_file``); it defaults to the current
    directory. ``check_files=False`` skips existence checks, for callers that only store it.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError("profile", f"invalid TOML: {exc}") from exc
    known = set(_SECTIONS) | set(RESERVED_SECTIONS) | {"mongo", "repo"}
    known |= {"load", "hooks", "alerts", "rollout", "auth", "resource", "status"}
    for name in data:
        if name not in known:
            raise ProfileError(name, "unknown section")
    if "service" not in data:
        raise ProfileError("service", "section is required")
    tables = {name: _section(data, name) for name in _SECTIONS}
    for key in ("name", "base_url"):
        if key not in tables["service"]:
            raise ProfileError(f"service.{key}", "is required")
    reserved: dict[str, dict[str, Any]] = {}
    for name in RESERVED_SECTIONS:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ProfileError(name, "must be a table")
        reserved[name] = value

    tls = _validated("tls", tables["tls"])
    if "ca_file" in tables["tls"]:
        tls["ca_file"] = _ca_file(tables["tls"]["ca_file"], base_dir, check_files)

    rollout = parse_rollout(data.get("rollout", {}))
    return Profile(
        service=ServiceSettings(**_validated("service", tables["service"])),
        auth=parse_auth(data.get("auth", {}), env),
        paths=PathSettings(**_validated("paths", tables["paths"])),
        limits=LimitSettings(**_validated("limits", tables["limits"])),
        tls=TlsSettings(**tls),
        cors=CorsSettings(**_validated("cors", tables["cors"])),
        http=HttpSettings(**_validated("http", tables["http"])),
        resource=parse_resource(data.get("resource", {})),
        status=parse_status(data.get("status", {})),
        mongo=parse_mongo(data.get("mongo", {}), env),
        repo=parse_repo(data.get("repo"), env=env, base_dir=base_dir, check_files=check_files),
        load=parse_load(data.get("load", {})),
        alerts=parse_alerts(data.get("alerts", {})),
        rollout=rollout,
        hooks=parse_hooks(data.get("hooks", {}), env, canary_weight=rollout.canary_weight),
        **reserved,
    )


def _ca_file(value: Any, base_dir: Path | None, check_files: bool) -> Path:
    path = Path(_text("tls.ca_file", value)).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if check_files and not path.is_file():
        raise ProfileError("tls.ca_file", f"file not found: {path}")
    return path


def load_profile(source: str | Path, *, env: Mapping[str, str] = os.environ) -> Profile:
    """Read a profile file; relative paths inside it are relative to the file."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError("profile", f"cannot read {path}: {exc}") from exc
    return parse_profile(text, env=env, base_dir=path.resolve().parent)
