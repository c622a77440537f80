"""The profile's ``[mongo]`` section: typed, frozen, validated (see docs/profile.md).

Kept apart from profile.py because the database checks' settings are the largest section
and change with those checks. The URI is a secret (it usually carries a password): it is
never part of a repr, and no error message quotes it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.engine.fields import ProfileError, secret

_KEYS = {
    "uri",
    "uri_env",
    "database",
    "replica_set",
    "timeout_ms",
    "hot_queries",
    "ttl_collections",
    "critical_collections",
}
_QUERY_KEYS = {"collection", "filter", "sort", "projection", "hint", "name"}
# MongoDB refuses these in database names; catching them here names the field instead.
_BAD_DB_CHARS = set('/\\. "$\x00')

# URI options the db checks accept, lower-case as the driver matches them. Everything else is
# refused, naming the option: an option the driver knows may make it reach beyond the judged
# hosts, and one it does not know is a typo the user should hear about.
SAFE_URI_OPTIONS = frozenset(
    {
        "appname",
        "authmechanism",  # its value is judged on its own (SAFE_AUTH_MECHANISMS)
        "authsource",
        "compressors",
        "zlibcompressionlevel",
        "connecttimeoutms",
        "sockettimeoutms",
        "serverselectiontimeoutms",
        "heartbeatfrequencyms",
        "localthresholdms",
        "maxidletimems",
        "waitqueuetimeoutms",
        "timeoutms",
        "maxpoolsize",
        "maxconnecting",
        "readpreference",
        "readpreferencetags",
        "maxstalenessseconds",
        "readconcernlevel",
        "replicaset",
        "directconnection",
        "w",
        "wtimeoutms",
        "journal",
        "retryreads",
        "retrywrites",
        "tls",
        "ssl",
        "tlsinsecure",
        "tlsallowinvalidcertificates",
        "tlsallowinvalidhostnames",
        "tlsdisableocspendpointcheck",
        "servermonitoringmode",
        "uuidrepresentation",
    }
)
# Mechanisms that only use the URI's own user and password. DEFAULT negotiates SCRAM.
SAFE_AUTH_MECHANISMS = frozenset({"SCRAM-SHA-1", "SCRAM-SHA-256", "DEFAULT", "PLAIN"})
_FETCHES_CREDENTIALS = (
    "makes the driver fetch credentials from outside the profile (cloud metadata endpoints, "
    "the worker's environment or files, Kerberos); use SCRAM-SHA-256 with a read-only user"
)
_WORKER_FILE = (
    "names a file on the worker's disk, which a profile may not make the worker read (or "
    "present as its own client certificate); MongoDB TLS trusts the profile's tls.ca_file, "
    "else the system's CAs"
)
_REFUSED_OPTIONS = {
    "authmechanismproperties": _FETCHES_CREDENTIALS,
    "tlscafile": _WORKER_FILE,
    "tlscertificatekeyfile": _WORKER_FILE,
    "tlscertificatekeyfilepassword": _WORKER_FILE,
    "tlscrlfile": _WORKER_FILE,
    "srvservicename": "is for mongodb+srv:// URIs, which the db checks refuse",
    "srvmaxhosts": "is for mongodb+srv:// URIs, which the db checks refuse",
    "srvallowedhostssuffix": "is for mongodb+srv:// URIs, which the db checks refuse",
    "loadbalanced": "is not supported: the db checks connect to judged members directly",
}
_MECHANISM_NAME = re.compile(r"^[A-Za-z0-9-]{1,40}$")


class UnsafeUriOption(ValueError):
    """A MongoDB URI option the db checks refuse; ``str()`` names it, never a value."""

    def __init__(self, option: str, reason: str) -> None:
        self.option = option
        self.reason = reason
        super().__init__(f"URI option {option} is refused: {reason}")


def check_uri_options(uri: str) -> None:
    """Raise UnsafeUriOption for the first option of ``uri`` that is not on the allowlist.

    Runs on the raw option names, split exactly as the driver splits them, *before* the
    driver parses the URI: parsing alone already opens ``tlsCAFile`` on the worker's disk.
    Called at profile save (through ``_uri``) and again right before the driver connects
    (checks/catalog/_mongo.py). Malformed option strings are left to the driver's parser.
    """
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import split_options

    scheme_free = uri.split("://", 1)[1] if "://" in uri else uri
    opts = scheme_free.partition("?")[2]
    if not opts:
        return
    try:
        options = split_options(opts, validate=False, warn=False, normalize=False)
    except (PyMongoError, ValueError):
        return  # the driver's own parse refuses it next, with its message
    tls = str(options.get("tls", options.get("ssl", ""))).lower() == "true"
    cased = getattr(options, "cased_key", str)  # the driver's dictionary keeps the spelling
    for key in options:
        name = str(cased(key))
        if key in _REFUSED_OPTIONS:
            raise UnsafeUriOption(name, _REFUSED_OPTIONS[key])
        if key not in SAFE_URI_OPTIONS:
            raise UnsafeUriOption(name, "is not one the db checks accept (docs/profile.md)")
        if key == "authmechanism":
            mechanism = str(options[key])
            shown = f"{name}={mechanism}" if _MECHANISM_NAME.match(mechanism) else name
            if mechanism.upper() not in SAFE_AUTH_MECHANISMS:
                raise UnsafeUriOption(shown, _FETCHES_CREDENTIALS)
            if mechanism.upper() == "PLAIN" and not tls:
                raise UnsafeUriOption(shown, "sends the password in the clear: only with tls=true")


@dataclass(frozen=True)
class HotQuery:
    """One query the service runs often; explained (never executed) by the db checks."""

    collection: str
    filter: dict[str, Any] = field(default_factory=dict)
    sort: tuple[tuple[str, int], ...] = ()  # ordered: the order is the sort's meaning
    projection: dict[str, Any] | None = None
    hint: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.collection


@dataclass(frozen=True)
class MongoSettings:
    uri: str | None = field(default=None, repr=False)
    database: str | None = None
    replica_set: bool = False
    timeout_ms: int = 3000
    hot_queries: tuple[HotQuery, ...] = ()
    ttl_collections: tuple[str, ...] = ()
    critical_collections: tuple[str, ...] = ()


def _error(dotted: str, message: str) -> Exception:
    return ProfileError(dotted, message)


def _name(dotted: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(dotted, "must be a non-empty string")
    return value


def _collection(dotted: str, value: Any) -> str:
    text = _name(dotted, value)
    if text.startswith(("$", "system.")) or "\x00" in text:
        raise _error(dotted, "must be a collection name (not system.*, no leading $)")
    return text


def _names(dotted: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _error(dotted, "must be an array of collection names")
    return tuple(_collection(f"{dotted}[{i}]", item) for i, item in enumerate(value))


def _database(dotted: str, value: Any) -> str:
    text = _name(dotted, value)
    if set(text) & _BAD_DB_CHARS or len(text.encode()) >= 64:
        raise _error(dotted, 'must be a database name (under 64 bytes, none of /\\. "$)')
    return text


def _uri(dotted: str, value: Any) -> str:
    """Check the URI's form without ever quoting it (it may hold a password)."""
    if not isinstance(value, str) or not value.strip():
        raise _error(dotted, "must be a non-empty mongodb:// or mongodb+srv:// URI")
    text = value.strip()
    if text.startswith("mongodb+srv://"):
        # Parsing an SRV URI resolves DNS; the db checks judge (and refuse) it at run time.
        if not text[len("mongodb+srv://") :].split("/", 1)[0].rpartition("@")[2]:
            raise _error(dotted, "mongodb+srv:// URI has no host")
        try:
            check_uri_options(text)
        except UnsafeUriOption as exc:
            raise _error(dotted, str(exc)) from None
        return text
    if not text.startswith("mongodb://"):
        raise _error(dotted, "must be a mongodb:// or mongodb+srv:// URI")
    try:
        check_uri_options(text)
    except UnsafeUriOption as exc:
        raise _error(dotted, str(exc)) from None
    from pymongo import uri_parser
    from pymongo.errors import PyMongoError

    try:
        parsed = uri_parser.parse_uri(text, warn=False)
    except (PyMongoError, ValueError) as exc:
        raise _error(dotted, f"is not a valid MongoDB URI: {_scrub(str(exc), text)}") from None
    if not parsed["nodelist"]:
        raise _error(dotted, "MongoDB URI has no host")
    return text


def _scrub(message: str, uri: str) -> str:
    """The driver's parse message, unless it echoes any part of the URI's credentials."""
    userinfo = uri.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
    parts = [p for p in (userinfo, *userinfo.split(":")) if len(p) >= 2]
    return "see the driver's URI rules" if any(p in message for p in parts) else message


def uri_secrets(uri: str | None) -> list[str]:
    """The URI and every spelling of its password, for the run's scrubber."""
    if not uri:
        return []
    from urllib.parse import quote_plus, unquote_plus

    authority = uri.split("://", 1)[-1]
    cut = min((i for i in (authority.find("/"), authority.find("?")) if i >= 0), default=-1)
    userinfo = (authority if cut < 0 else authority[:cut]).rpartition("@")[0]
    if not userinfo:
        return []  # hosts and database are shown in summaries: no secret without credentials
    found = [uri, userinfo]
    _user, _, password = userinfo.partition(":")  # a user name alone is no secret
    if password:
        found += [password, unquote_plus(password), quote_plus(unquote_plus(password))]
    return [value for value in dict.fromkeys(found) if value]


def _bson_safe(dotted: str, value: Any) -> Any:
    """TOML values MongoDB can receive; local dates and times have no BSON type."""
    if isinstance(value, dict):
        return {str(k): _bson_safe(f"{dotted}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bson_safe(f"{dotted}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date | datetime.time):
        raise _error(dotted, "local dates and times have no BSON type; use a full date-time")
    return value


def _table(dotted: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(dotted, "must be a table")
    result = _bson_safe(dotted, value)
    assert isinstance(result, dict)
    return result


def _sort(dotted: str, value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict) or not value:
        raise _error(dotted, "must be a non-empty table of field = 1 or -1")
    pairs: list[tuple[str, int]] = []
    for key, direction in value.items():
        if isinstance(direction, bool) or direction not in (1, -1):
            raise _error(f"{dotted}.{key}", "must be 1 or -1")
        pairs.append((str(key), int(direction)))
    return tuple(pairs)


def _hot_query(dotted: str, value: Any) -> HotQuery:
    if not isinstance(value, dict):
        raise _error(dotted, "must be a table")
    for key in value:
        if key not in _QUERY_KEYS:
            raise _error(f"{dotted}.{key}", "unknown key")
    if "collection" not in value:
        raise _error(f"{dotted}.collection", "is required")
    if "filter" not in value:
        raise _error(f"{dotted}.filter", "is required (use {} for none)")
    return HotQuery(
        collection=_collection(f"{dotted}.collection", value["collection"]),
        filter=_table(f"{dotted}.filter", value["filter"]),
        sort=_sort(f"{dotted}.sort", value["sort"]) if "sort" in value else (),
        projection=(
            _table(f"{dotted}.projection", value["projection"]) if "projection" in value else None
        ),
        hint=_name(f"{dotted}.hint", value["hint"]) if "hint" in value else None,
        name=_name(f"{dotted}.name", value["name"]) if "name" in value else None,
    )


def _uri_setting(table: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    return secret(table, "mongo", "uri", env, _uri)


def parse_mongo(value: Any, env: Mapping[str, str]) -> MongoSettings:
    """Validate the ``[mongo]`` table; raise ProfileError naming the dotted field."""
    if not isinstance(value, dict):
        raise _error("mongo", "must be a table")
    for key in value:
        if key not in _KEYS:
            raise _error(f"mongo.{key}", "unknown key")
    settings: dict[str, Any] = {"uri": _uri_setting(value, env)}
    if "database" in value:
        settings["database"] = _database("mongo.database", value["database"])
    if "replica_set" in value:
        if not isinstance(value["replica_set"], bool):
            raise _error("mongo.replica_set", "must be true or false")
        settings["replica_set"] = value["replica_set"]
    if "timeout_ms" in value:
        timeout = value["timeout_ms"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 50 <= timeout <= 60000:
            raise _error("mongo.timeout_ms", "must be an integer between 50 and 60000")
        settings["timeout_ms"] = timeout
    if "hot_queries" in value:
        queries = value["hot_queries"]
        if not isinstance(queries, list):
            raise _error("mongo.hot_queries", "must be an array of tables")
        settings["hot_queries"] = tuple(
            _hot_query(f"mongo.hot_queries[{i}]", q) for i, q in enumerate(queries)
        )
    for key in ("ttl_collections", "critical_collections"):
        if key in value:
            settings[key] = _names(f"mongo.{key}", value[key])
    return MongoSettings(**settings)
