"""MongoDB access for the db checks: judged destinations, one client per run, reads only.

Like the HTTP client, the profile's URI is user input, so nothing reaches the driver unjudged:

- URI options come from an allowlist (``check_uri_options`` in
  checks/engine/mongo_settings.py, run at profile save and again here, before the driver
  parses the URI): no mechanism or property that makes the driver fetch credentials from
  anywhere (OIDC, AWS, GSSAPI, callbacks), no file on the worker's disk.
- Every seed host is resolved and judged by the run's DestinationPolicy *before* pymongo opens
  a socket. pymongo offers no hook at its TCP connect, so (unlike checks/engine/http.py) the
  judged address cannot be pinned: pymongo resolves the name again, a window a DNS-rebinding
  attacker with a short TTL could use. Use IP literals in the URI where that matters.
- The driver never discovers anything: it always runs with ``directConnection=True`` to one
  judged host. For a replica set (``mongo.replica_set = true``) the discovery is ours: a
  ``hello`` over a direct connection to a seed, every member it announces judged, then a
  direct connection to the announced primary. A member outside the policy refuses the run
  before the driver has talked to anything but the judged seed.

``mongodb+srv://`` URIs are refused: their seed list comes from a DNS SRV lookup made inside
the driver and re-polled while it runs, after any check of ours.

The URI usually carries a password, so it never reaches a message: the deployment is shown
as ``mongodb://***@host:port/db`` and every driver message is scrubbed of the credentials.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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
from checks.engine.mongo_settings import UnsafeUriOption, check_uri_options
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
        return _scrubbed(self.secrets, text)


def _scrubbed(secrets: tuple[str, ...], text: str) -> str:
    """A driver message without the URI's credentials, cut to a summary's length."""
    for secret in secrets:
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


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _with_host(uri: str, host: str, port: int) -> str:
    """``uri`` with its host list replaced by the one judged host (credentials, path and
    options kept as they were written)."""
    scheme, userinfo, _hosts, rest = _split(uri)
    return f"{scheme}://{userinfo + '@' if userinfo else ''}{_address(host, port)}{rest}"


def _client(uri: str, options: dict[str, Any]) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, directConnection=True, **options)


def _announced(hello: dict[str, Any]) -> list[tuple[str, int]]:
    """Every member a ``hello`` reply names: hosts, passives, arbiters and the primary."""
    names: list[str] = []
    for key in ("hosts", "passives", "arbiters"):
        value = hello.get(key)
        if isinstance(value, list):
            names += [str(v) for v in value]
    if isinstance(hello.get("primary"), str):
        names.append(hello["primary"])
    found: list[tuple[str, int]] = []
    for name in names:
        try:
            host, port = uri_parser.parse_host(name, 27017)
        except (PyMongoError, ValueError):
            raise MongoUnavailable(
                f"the replica set announced a malformed member {name[:100]!r}"
            ) from None
        if (str(host), port or 27017) not in found:
            found.append((str(host), port or 27017))
    return found


def _discover(
    uri: str,
    seeds: list[tuple[str, int]],
    options: dict[str, Any],
    judge: Callable[[str, int], None],
    scrub: Callable[[str], str],
) -> tuple[str, int]:
    """Our own replica-set discovery: ``hello`` over a direct connection to each (judged)
    seed in turn; every member it announces is judged before anything connects to it.
    Returns the member to connect to: the announced primary, else the seed that answered."""
    failures: list[str] = []
    for host, port in seeds:
        client = _client(_with_host(uri, host, port), options)
        try:
            hello = dict(client.admin.command("hello"))
        except PyMongoError as exc:
            first = str(exc).split(", Timeout:", 1)[0].split(" (configured timeouts", 1)[0]
            failures.append(f"{_address(host, port)}: {scrub(first)}")
            continue
        finally:
            client.close()
        members = _announced(hello) if hello.get("setName") else []
        for member in members:
            judge(*member)
        primary = hello.get("primary")
        if hello.get("setName") and isinstance(primary, str):
            chosen, chosen_port = uri_parser.parse_host(primary, 27017)
            return str(chosen), chosen_port or 27017
        return host, port
    raise MongoUnavailable("no replica-set seed answered hello: " + "; ".join(failures))


def _driver_options(t: Target, parsed: dict[str, Any]) -> dict[str, Any]:
    """What the driver gets besides the URI: our timeouts and, for TLS, the CA we trust."""
    timeout = t.profile.mongo.timeout_ms
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": timeout,
        "connectTimeoutMS": timeout,
        "socketTimeoutMS": timeout,
        "retryReads": False,  # a retry would double the time a dead server costs
        "retryWrites": False,
        "maxPoolSize": 4,
        "appname": "preflight-db-checks",
    }
    uri_options = parsed["options"]
    if uri_options.get("tls") or uri_options.get("ssl"):
        # tlsCAFile in the URI is refused; the profile's tls.ca_file (validated at load) is
        # the one CA file a profile may name, else the system's CAs.
        if t.profile.tls.ca_file is not None:
            options["tlsCAFile"] = str(t.profile.tls.ca_file)
        lenient = ("tlsinsecure", "tlsallowinvalidcertificates", "tlsdisableocspendpointcheck")
        if not any(name in uri_options for name in lenient):
            # OCSP would fetch a responder URL the server's certificate names, unjudged.
            options["tlsDisableOCSPEndpointCheck"] = True
    return options


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
    try:  # again here, right before the driver: the profile may not have come through save
        check_uri_options(uri)
    except UnsafeUriOption as exc:
        raise MongoUnavailable(f"cannot use {shown}: {exc}") from None
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
    judged: set[tuple[str, int]] = set()

    def judge(host: str, port: int) -> None:
        if (host, port) not in judged:
            t.policy.check_host(host, port, resolver)
            judged.add((host, port))

    for host, port in nodes:  # judged before the driver exists: it connects on creation
        judge(host, port)
    database = settings.database or parsed["database"] or None
    options = _driver_options(t, parsed)

    def scrub(text: str) -> str:
        return _scrubbed(secrets, text)

    log.info("db checks: connecting to %s (timeout %d ms)", shown, settings.timeout_ms)
    try:
        host, port = nodes[0]
        if settings.replica_set:
            host, port = _discover(uri, nodes, options, judge, scrub)
            judge(host, port)
        client = _client(_with_host(uri, host, port), options)
    except (ConfigurationError, ValueError) as exc:
        raise MongoUnavailable(f"cannot use {shown}: {scrub(str(exc))}") from None
    t.on_close(client.close)
    return Deployment(client, shown, database, settings.timeout_ms, secrets, resolver, t, judged)


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
