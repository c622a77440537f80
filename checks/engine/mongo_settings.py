"""The profile's ``[mongo]`` section: typed, frozen, validated (see docs/profile.md).

Kept apart from profile.py because the database checks' settings are the largest section
and change with those checks. The URI is a secret (it usually carries a password): it is
never part of a repr, and no error message quotes it.
"""

from __future__ import annotations

import datetime
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
        return text
    if not text.startswith("mongodb://"):
        raise _error(dotted, "must be a mongodb:// or mongodb+srv:// URI")
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
