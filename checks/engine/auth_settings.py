"""The profile's ``[auth]`` section: who the probe is and how it logs in (docs/profile.md).

Login styles, because real services log in in different ways:

- ``json`` (default): a JSON body (``auth.body``, a template: the credentials may sit
  anywhere, under any names) to ``paths.login``; tokens read from JSON paths.
- ``oauth2_password``: FastAPI's ``OAuth2PasswordRequestForm``: form-encoded ``username``,
  ``password`` (and ``scope``) to ``paths.login``, the OAuth2 token URL.
- ``client_credentials``: the OAuth2 client-credentials grant at an external token endpoint
  (``auth.token_url``: Keycloak, Auth0 and the like) with ``client_id``/``client_secret``.
- ``static``: a token or API key from the secret store or the environment (``auth.token``),
  sent as is: no login at all.

The token is sent in ``auth.header`` (``Authorization``) after ``auth.scheme`` (``Bearer``;
``""`` sends the bare value, as an ``X-API-Key`` header wants).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from checks.engine.fields import ProfileError, secret, text
from checks.engine.templates import placeholders

STYLES = ("json", "oauth2_password", "client_credentials", "static")
# Styles that log in at the service itself (paths.login); the others need no login route.
SERVICE_LOGIN_STYLES = ("json", "oauth2_password")
DEFAULT_BODY: Mapping[str, Any] = {
    "username": "${username}",
    "password": "${password}",
    "scope": "${scope}",
}
DEFAULT_REFRESH_BODY: Mapping[str, Any] = {"refresh_token": "${refresh_token}"}
LOGIN_PLACEHOLDERS = {"username", "password", "scope"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


@dataclass(frozen=True)
class AuthSettings:
    style: str = "json"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    otp_secret: str | None = field(default=None, repr=False)
    otp_on_login: bool = False
    read_scope: str = "items:read"
    write_scope: str = "items:write"
    max_token_lifetime_s: int = 900
    body: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_BODY))
    token_path: str = "access_token"
    refresh_token_path: str = "refresh_token"
    expires_in_path: str = "expires_in"
    refresh_body: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_REFRESH_BODY))
    header: str = "Authorization"
    scheme: str = "Bearer"
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    audience: str | None = None
    token: str | None = field(default=None, repr=False)

    SECRETS = ("password", "otp_secret", "client_secret", "token")

    @property
    def logs_in_at_service(self) -> bool:
        return self.style in SERVICE_LOGIN_STYLES

    def secret_values(self) -> list[str]:
        return [v for v in (getattr(self, name) for name in self.SECRETS) if v]


# --- validators ------------------------------------------------------------------------------


def _style(dotted: str, value: Any) -> str:
    if value not in STYLES:
        raise ProfileError(dotted, f"must be one of {', '.join(STYLES)}")
    return str(value)


def _bool(dotted: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(dotted, "must be true or false")
    return value


def _scope(dotted: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ProfileError(dotted, 'must be a string ("" when the service has no scopes)')
    return value.strip()


def _int_between(low: int, high: int) -> Any:
    def check(dotted: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ProfileError(dotted, f"must be an integer between {low} and {high}")
        return value

    return check


def json_path(dotted: str, value: Any, *, optional: bool = False) -> str:
    if optional and value == "":
        return ""
    if not isinstance(value, str) or not _PATH.match(value):
        raise ProfileError(dotted, "must be a dotted JSON path such as user.token")
    return value


def _optional_path(dotted: str, value: Any) -> str:
    return json_path(dotted, value, optional=True)


def _header(dotted: str, value: Any) -> str:
    if not isinstance(value, str) or not _HEADER_NAME.match(value):
        raise ProfileError(dotted, "must be an HTTP header name")
    return value


def _scheme(dotted: str, value: Any) -> str:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        raise ProfileError(dotted, 'must be one word such as Bearer or Token, or ""')
    return value


def _template(allowed: set[str], needs: set[str]) -> Any:
    def check(dotted: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise ProfileError(dotted, "must be a table (the JSON body to send)")
        used = placeholders(value)
        unknown = sorted(used - allowed)
        if unknown:
            known = ", ".join("${" + n + "}" for n in sorted(allowed))
            raise ProfileError(dotted, f"unknown placeholder ${{{unknown[0]}}} (known: {known})")
        missing = sorted(needs - used)
        if missing:
            raise ProfileError(dotted, f"must place ${{{missing[0]}}} somewhere")
        return value

    return check


def _url_or_path(dotted: str, value: Any) -> str:
    result = text(dotted, value)
    parts = urlsplit(result)
    if result.startswith("/") or (parts.scheme in ("http", "https") and parts.hostname):
        return result
    raise ProfileError(dotted, "must be an http(s) URL or a path starting with /")


def _base32(dotted: str, value: Any) -> str:
    cleaned = text(dotted, value).replace(" ", "").upper()
    try:
        base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError) as exc:
        raise ProfileError(dotted, "must be a base32 TOTP secret") from exc
    return cleaned


def _password(dotted: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ProfileError(dotted, "must be a non-empty string")
    return value


_VALIDATORS: dict[str, Any] = {
    "style": _style,
    "username": text,
    "otp_on_login": _bool,
    "read_scope": _scope,
    "write_scope": _scope,
    "max_token_lifetime_s": _int_between(1, 86400 * 366),
    "body": _template(LOGIN_PLACEHOLDERS, {"password"}),
    "token_path": json_path,
    "refresh_token_path": _optional_path,
    "expires_in_path": _optional_path,
    "refresh_body": _template({"refresh_token"}, {"refresh_token"}),
    "header": _header,
    "scheme": _scheme,
    "token_url": _url_or_path,
    "client_id": text,
    "audience": text,
}
_SECRET_KEYS = {f"{name}{suffix}" for name in AuthSettings.SECRETS for suffix in ("", "_env")}
KEYS = frozenset(_VALIDATORS) | _SECRET_KEYS


def parse_auth(table: Any, env: Mapping[str, str]) -> AuthSettings:
    if not isinstance(table, dict):
        raise ProfileError("auth", "must be a table")
    for key in table:
        if key not in KEYS:
            raise ProfileError(f"auth.{key}", "unknown key")
    values: dict[str, Any] = {
        key: _VALIDATORS[key](f"auth.{key}", v) for key, v in table.items() if key in _VALIDATORS
    }
    values["password"] = secret(table, "auth", "password", env, _password)
    values["otp_secret"] = secret(table, "auth", "otp_secret", env, _base32)
    values["client_secret"] = secret(table, "auth", "client_secret", env, _password)
    values["token"] = secret(table, "auth", "token", env, _password)
    style = values.get("style", "json")
    if "body" in values and style != "json":
        raise ProfileError("auth.body", 'is only used with style = "json"')
    if (
        style == "static"
        and "scheme" not in values
        and values.get("header", "Authorization") != ("Authorization")
    ):
        values["scheme"] = ""  # an API-key header carries the bare key
    return AuthSettings(**values)
