"""The profile's ``[repo]`` section: typed, frozen, validated (see docs/profile.md).

Kept apart from profile.py (like ``[mongo]``) because it has its own URL grammar. The
token is an https credential: it is never part of a repr, and no error message quotes it.
URLs that could be read by git as an option (a leading ``-``) or that carry a password are
refused here, before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from checks.engine.fields import ProfileError, secret

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
MAX_TIMEOUT_S = 300.0
_KEYS = {"url", "path", "ref", "subdir", "dockerfile", "token", "token_env"}
_KEYS |= {"max_bytes", "timeout_s", "secrets_include"}
# Categories repo.no_secrets leaves out by default (checks/catalog/repo/secretrules.py).
SECRET_SCOPES = ("tests", "fixtures", "docs", "lock_files", "migration_ids")
# Branch/tag names git accepts, minus anything that could read as an option or a range.
_GIT_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+@-]+(?<![/.])$")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?!//)(.+)$")


@dataclass(frozen=True)
class RepoSettings:
    """The service's git repository, cloned read-only once per run.

    Unset (``configured`` False) when neither ``url`` nor ``path`` is given.
    """

    url: str | None = None
    path: Path | None = None
    ref: str | None = None  # branch, tag or full commit id; None: the default branch
    subdir: str | None = None
    dockerfile: str = "Dockerfile"  # relative to subdir
    token: str | None = field(default=None, repr=False)
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_s: float = 60.0
    # Left-out categories that repo.no_secrets scans anyway (SECRET_SCOPES).
    secrets_include: frozenset[str] = frozenset()

    @property
    def configured(self) -> bool:
        return self.url is not None or self.path is not None

    def redacted(self) -> dict[str, Any]:
        data = asdict(self)
        data["token"] = None if self.token is None else "***"
        data["path"] = None if self.path is None else str(self.path)
        data["secrets_include"] = sorted(self.secrets_include)
        return data


def _error(dotted: str, message: str) -> Exception:
    return ProfileError(dotted, message)


def repo_url_parts(url: str) -> tuple[str, str | None, str, int | None]:
    """``(scheme, user, host, port)`` of a git URL; scp-like ``user@host:path`` is ssh.

    Raises ValueError for anything but https, http, ssh and file:// URLs.
    """
    match = _SCP_LIKE.match(url)
    if match and "/" not in url.split(":", 1)[0]:
        return "ssh", match.group("user"), match.group("host"), None
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError("a file:// URL names an absolute local path (file:///...)")
        return "file", None, "", None
    if parts.scheme not in ("https", "http", "ssh") or not parts.hostname:
        raise ValueError("must be an https or ssh git URL (or file:// for a local one)")
    if parts.password is not None:
        raise ValueError("must not hold a password: use repo.token_env")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("has a bad port") from exc
    return parts.scheme, parts.username, parts.hostname, port


def _text(dotted: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(dotted, "must be a non-empty string")
    return value.strip()


def _relative(dotted: str, value: Any) -> str:
    """A relative path inside the repository: no absolute paths, no ``..``."""
    text = _text(dotted, value)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if text.startswith(("/", "~")) or ".." in parts or not parts or "\\" in text:
        raise _error(dotted, "must be a relative path inside the repository")
    return "/".join(parts)


def _number(dotted: str, value: Any, low: float, high: float, *, integer: bool) -> Any:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
        or not low <= value <= high
    ):
        what = "an integer" if integer else "a number of seconds"
        raise _error(dotted, f"must be {what} between {low:g} and {high:g}")
    return value


def _scopes(value: Any) -> frozenset[str]:
    """``repo.secrets_include``: a list of SECRET_SCOPES names, or ``["all"]``."""
    choices = ", ".join(f'"{name}"' for name in (*SECRET_SCOPES, "all"))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error("repo.secrets_include", f"must be a list of names among {choices}")
    unknown = sorted(set(value) - {*SECRET_SCOPES, "all"})
    if unknown:
        raise _error("repo.secrets_include", f"unknown {unknown[0]!r}; choose among {choices}")
    return frozenset(SECRET_SCOPES) if "all" in value else frozenset(value)


def _url(value: Any) -> tuple[str, str]:
    url = _text("repo.url", value)
    try:
        scheme, user, host, _port = repo_url_parts(url)
    except ValueError as exc:
        raise _error("repo.url", str(exc)) from None
    if any(part.startswith("-") for part in (url, host, user or "")):
        raise _error("repo.url", "must not start with '-'")
    return url, scheme


def _token(table: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    return secret(table, "repo", "token", env)


def parse_repo(
    value: Any,
    *,
    env: Mapping[str, str],
    base_dir: Path | None = None,
    check_files: bool = True,
) -> RepoSettings:
    """Validate the ``[repo]`` table (None when absent); errors name the dotted field."""
    if value is None:
        return RepoSettings()
    if not isinstance(value, dict):
        raise _error("repo", "must be a table")
    for key in value:
        if key not in _KEYS:
            raise _error(f"repo.{key}", "unknown key")
    if "url" in value and "path" in value:
        raise _error("repo.path", "give either repo.url or repo.path, not both")
    if "url" not in value and "path" not in value:
        raise _error("repo.url", "is required (or repo.path for a local repository)")
    got: dict[str, Any] = {}
    scheme = "file"
    if "url" in value:
        got["url"], scheme = _url(value["url"])
    else:
        path = Path(_text("repo.path", value["path"])).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if check_files and not path.is_dir():
            raise _error("repo.path", f"directory not found: {path}")
        got["path"] = path
    if "ref" in value:
        ref = _text("repo.ref", value["ref"])
        if not _GIT_REF.match(ref) or ref.endswith(".lock"):
            raise _error("repo.ref", "must be a branch, tag or full commit id")
        got["ref"] = ref
    for key in ("subdir", "dockerfile"):
        if key in value:
            got[key] = _relative(f"repo.{key}", value[key])
    if "max_bytes" in value:
        size = _number("repo.max_bytes", value["max_bytes"], 1024, 1 << 34, integer=True)
        got["max_bytes"] = size
    if "timeout_s" in value:
        seconds = _number("repo.timeout_s", value["timeout_s"], 1, MAX_TIMEOUT_S, integer=False)
        got["timeout_s"] = float(seconds)
    if "secrets_include" in value:
        got["secrets_include"] = _scopes(value["secrets_include"])
    token = _token(value, env)
    if token is not None and scheme != "https":
        where = "repo.token_env" if "token_env" in value else "repo.token"
        raise _error(where, "a token is only sent to an https repo.url")
    return RepoSettings(**got, token=token)
