"""MongoDB access for the db checks: judged destinations, one client per run, reads only.

Like the HTTP client, the profile's URI is user input, so every seed host is resolved and
judged by the run's DestinationPolicy *before* pymongo opens a socket. pymongo offers no
hook at its TCP connect, so (unlike checks/engine/http.py) the judged address cannot be
pinned: pymongo resolves the name again, a window a DNS-rebinding attacker with a short TTL
could use. Members a replica set announces are judged as soon as the driver reports them,
and the run refuses to send anything once an unlisted one appears.

``mongodb+srv://`` URIs are refused: their seed list comes from a DNS SRV lookup made inside
the driver and re-polled while it runs, after any check of ours.

The URI usually carries a password, so it never reaches a message: the deployment is shown
as ``mongodb://***@host:port/db`` and every driver message is scrubbed of the credentials.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from pymongo import MongoClient, ReadPreference, uri_parser
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from checks.engine.http import DestinationRefused, Resolver, system_resolver
from checks.engine.outcome import MissingSetting
from checks.engine.target import Target

log = logging.getLogger(__name__)

# The only commands the db checks send. All are reads; none changes the deployment.
# serverStatus is read by the load drill's sampler (connections, opcounters, memory, queue).
READ_COMMANDS = frozenset(
    {"hello", "explain", "listIndexes", "getDefaultRWConcern", "serverStatus"}
)
_SHARED_KEY = "catalog.db.mongo"
_MESSAGE_CHARS = 300


class MongoUnavailable(Exception):
    """The db checks could not get an answer; the message is scrubbed and summary-ready."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # the server's error code, when the server answered one


@dataclass
class Deployment:
    """The run's MongoDB client and what may safely be said about it."""

    client: MongoClient[dict[str, Any]]
    shown: str  # the redacted URI
    database: str | None  # mongo.database, else the URI's path
    timeout_ms: int
    secrets: tuple[str, ...] = field(repr=False)
    resolver: Resolver = field(repr=False)
    target: Target = field(repr=False)
    judged: set[tuple[str, int]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text[:_MESSAGE_CHARS] + ("…" if len(text) > _MESSAGE_CHARS else "")


def _split(uri: str) -> tuple[str, str, str, str]:
    """(scheme, userinfo, hosts, rest) of a MongoDB URI, without decoding anything."""
    scheme, _, remainder = uri.partition("://")
    cut = min((i for i in (remainder.find("/"), remainder.find("?")) if i >= 0), default=-1)
    authority, rest = (remainder, "") if cut < 0 else (remainder[:cut], remainder[cut:])
    userinfo, _, hosts = authority.rpartition("@")
    return scheme, userinfo, hosts, rest


def redact_uri(uri: str) -> str:
    """``mongodb://***@host:port/db`` — hosts and database kept, credentials and options not."""
    scheme, userinfo, hosts, rest = _split(uri)
    path = rest.split("?", 1)[0]
    return f"{scheme}://{'***@' if userinfo else ''}{hosts}{path}" + ("?…" if "?" in rest else "")


def _secrets_of(uri: str) -> tuple[str, ...]:
    """Every spelling of the URI's credentials a message could contain, longest first."""
    userinfo = _split(uri)[1]
    found = {uri, userinfo}
    for part in userinfo.split(":", 1):
        found.update({part, unquote_plus(part), quote_plus(unquote_plus(part))})
    return tuple(sorted((s for s in found if len(s) >= 2), key=len, reverse=True))


def _judge(dep: Deployment, host: str, port: int) -> None:
    if (host, port) not in dep.judged:
        dep.target.policy.check_host(host, port, dep.resolver)
        dep.judged.add((host, port))


def _judge_members(dep: Deployment) -> None:
    """Judge every server the driver knows of, including members a replica set announced."""
    with dep.lock:
        for host, port in list(dep.client.topology_description.server_descriptions()):
            _judge(dep, str(host), int(port or 27017))


def _connect(t: Target) -> Deployment:
    settings = t.profile.mongo
    uri = settings.uri
    if uri is None:
        raise MissingSetting("mongo.uri", "or mongo.uri_env: the database checks need a URI")
    shown = redact_uri(uri)
    secrets = _secrets_of(uri)
    if uri.startswith("mongodb+srv://"):
        host = _split(uri)[2]
        raise DestinationRefused(
            host,
            None,
            "mongodb+srv:// URIs are refused: the driver resolves their SRV seed list after "
            "any destination check; list the hosts in a mongodb:// URI",
        )
    try:
        parsed = uri_parser.parse_uri(uri, warn=False)
    except (PyMongoError, ValueError) as exc:
        raise MongoUnavailable(f"the MongoDB URI {shown} is invalid") from exc
    resolver: Resolver = getattr(getattr(t.http, "backend", None), "resolver", system_resolver)
    nodes = [(str(h), int(p or 27017)) for h, p in parsed["nodelist"]]
    if len(nodes) > 1 and not settings.replica_set:
        raise MongoUnavailable(
            f"{shown} lists {len(nodes)} hosts; set mongo.replica_set = true for a replica set"
        )
    for host, port in nodes:  # judged before the driver exists: it connects on creation
        t.policy.check_host(host, port, resolver)
    database = settings.database or parsed["database"] or None
    timeout = settings.timeout_ms
    log.info("db checks: connecting to %s (timeout %d ms)", shown, timeout)
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri,
            directConnection=not settings.replica_set,
            serverSelectionTimeoutMS=timeout,
            connectTimeoutMS=timeout,
            socketTimeoutMS=timeout,
            retryReads=False,  # a retry would double the time a dead server costs
            retryWrites=False,
            maxPoolSize=4,
            appname="preflight-db-checks",
        )
    except (ConfigurationError, ValueError) as exc:
        raise MongoUnavailable(f"cannot use {shown}: {exc}") from None
    t.on_close(client.close)
    return Deployment(client, shown, database, timeout, secrets, resolver, t, set(nodes))


def deployment(t: Target) -> Deployment:
    """The run's deployment, connected once and shared by the db checks (closed at run end)."""
    return t.shared(_SHARED_KEY, lambda: _connect(t))


def database_name(dep: Deployment) -> str:
    if dep.database is None:
        raise MissingSetting("mongo.database", "or a database in the URI path")
    return dep.database


def command(dep: Deployment, db: str, cmd: dict[str, Any]) -> dict[str, Any]:
    """Send one read command and return its reply; failures become MongoUnavailable."""
    name = next(iter(cmd))
    if name not in READ_COMMANDS:
        raise ValueError(f"{name} is not one of the db checks' read commands")
    _judge_members(dep)
    try:
        reply = dep.client[db].command(cmd, read_preference=ReadPreference.PRIMARY_PREFERRED)
    except ServerSelectionTimeoutError as exc:
        first = str(exc).split(", Timeout:", 1)[0].split(" (configured timeouts", 1)[0]
        raise MongoUnavailable(
            f"MongoDB at {dep.shown} was not reachable within {dep.timeout_ms} ms: "
            + dep.scrub(first)
        ) from None
    except (NetworkTimeout, ExecutionTimeout):
        raise MongoUnavailable(
            f"MongoDB at {dep.shown} did not answer {name} within {dep.timeout_ms} ms"
        ) from None
    except OperationFailure as exc:
        detail = exc.details.get("errmsg", str(exc)) if exc.details else str(exc)
        raise MongoUnavailable(
            f"MongoDB refused {name} (code {exc.code}): {dep.scrub(str(detail))}", exc.code
        ) from None
    except (AutoReconnect, PyMongoError) as exc:
        raise MongoUnavailable(
            f"MongoDB error on {name} ({type(exc).__name__}): {dep.scrub(str(exc))}"
        ) from None
    _judge_members(dep)
    return dict(reply)
