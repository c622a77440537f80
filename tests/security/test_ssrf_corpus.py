"""SSRF regression corpus: EVERY outbound path of Preflight, aimed at a forbidden listener.

The outbound policy allows 127.0.0.1 only; a real listener on 127.0.0.2 (loopback, but not
allowlisted) counts the connections it accepts, and each path must leave it at 0 — both when
the path is given the forbidden address directly and when an allowed service (on 127.0.0.1)
answers with a redirect to it. Paths that run in a subprocess (git, Locust) are covered by
the listener; paths in this process are also watched by a CPython audit hook (the tripwire)
that records every ``socket.connect`` and refuses (raises before the connect) any address
outside the loopback range, so a guard that fails here can never send anything to a cloud
metadata address: metadata and link-local addresses are exercised only as refusals.

Adding an outbound path (catalog sync, OIDC sign-in, service discovery, ...): write a
function ``def my_path(c: Corpus) -> None`` that drives the new path at ``c.forbidden_url``
(and, if it speaks HTTP, at ``c.redirector.url``, which redirects every request but a login
to the forbidden listener), asserting what the caller sees; then add ONE line to
``OUTBOUND_PATHS`` (``django(...)`` for a path that needs the database). The test asserts
the 0 for you. Keep paths bounded: short timeouts, a few seconds of Locust at most.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from checks.catalog import REGISTRY
from checks.engine.http import DestinationPolicy, GuardedBackend, GuardedClient, IPAddress
from checks.engine.outcome import Outcome, Status
from checks.engine.profile import parse_profile
from checks.engine.runner import run_checks, run_one
from checks.engine.target import Target, build_target
from tests.catalog.conftest import closed_port
from tests.support.mongo_wire import WireMongo, running
from tests.support.staging import Served, bound_socket, create_staging, serve

ALLOWED, FORBIDDEN = "127.0.0.1", "127.0.0.2"
POLICY = DestinationPolicy([ALLOWED])
AUTH = '[auth]\nusername = "p"\npassword = "pw"\n'


class CountingListener:
    """A real listening socket that accepts and counts (and closes) every connection."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.sock = bound_socket(host, port)
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.host, self.port = host, int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


class Tripwire:
    """Every ``socket.connect`` of this process while armed; non-loopback ones are refused."""

    def __init__(self) -> None:
        self.armed = False
        self.connects: list[tuple[str, int]] = []
        self.outside: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed or event != "socket.connect":
            return
        address = args[1]
        if not isinstance(address, tuple):
            return
        host, port = str(address[0]), int(address[1])
        with self.lock:
            self.connects.append((host, port))
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            with self.lock:
                self.outside.append((host, port))
            raise PermissionError(f"tripwire: refused a connect to {host}:{port}")


TRIPWIRE = Tripwire()


@dataclass
class Corpus:
    """What a path gets: the forbidden listener, an allowed redirector, and helpers."""

    forbidden: CountingListener
    redirector: Served
    listeners: list[CountingListener] = field(default_factory=list)
    request: Any = None  # pytest's request, for fixtures a path needs (settings, db)

    @property
    def forbidden_url(self) -> str:
        return f"http://{FORBIDDEN}:{self.forbidden.port}"

    def listen(self, host: str, port: int = 0) -> CountingListener:
        """One more forbidden listener; counted by the test like the first."""
        listener = CountingListener(host, port)
        self.listeners.append(listener)
        return listener

    def target(self, body: str, policy: DestinationPolicy = POLICY, **env: str) -> Target:
        return build_target(parse_profile(profile(body), env=env), policy)

    def settings(self) -> Any:
        settings = self.request.getfixturevalue("settings")
        settings.PREFLIGHT_OUTBOUND_ALLOWLIST = [ALLOWED]
        return settings


def profile(body: str) -> str:
    """A profile; ``body`` starts with the [service] table's base_url line."""
    return f'[service]\nname = "orders"\n{body}'


def statuses(outcomes: list[Outcome]) -> set[str]:
    return {str(o.status) for o in outcomes}


# --- HTTP checks ---------------------------------------------------------------------------


def http_checks_direct(c: Corpus) -> None:
    t = c.target(f'base_url = "{c.forbidden_url}"\n[auth]\nusername = "p"\npassword = "pw-xyz"\n')
    outcomes = run_checks(t, list(REGISTRY.values()))
    assert statuses(outcomes) <= {"error", "skip"}
    refused = [o for o in outcomes if "destination refused: 127.0.0.2" in o.summary]
    assert len(refused) >= 15, [o.summary for o in outcomes]


def http_checks_redirected(c: Corpus) -> None:
    t = c.target(
        f'base_url = "{c.redirector.url}"\n[auth]\nusername = "p"\npassword = "pw-xyz"\n'
        "[limits]\nlogin_attempts = 3\notp_attempts = 2\n"
    )
    specs = [s for s in REGISTRY.values() if s.step in ("smoke", "functional", "http")]
    outcomes = {o.key: o for o in run_checks(t, specs)}
    assert outcomes["smoke.health"].summary == "GET /health answered 307, expected 200"
    assert c.redirector.seen.requests > len(specs)  # the checks did talk to the redirector


# --- drill hooks (the drills themselves, and their restore hooks in ``finally``) ----------


def _hooks_everywhere(t: Target, refusal: str) -> None:
    """Every hook through ``call_hook``, then a drill whose breaking hook arms a restore
    that the harness runs in its ``finally`` (the same path the sweeper's restore takes)."""
    from checks.engine.drill_settings import HOOK_NAMES
    from checks.engine.hooks import Drill, call_hook, drill
    from checks.engine.outcome import passed

    for name in HOOK_NAMES:
        with pytest.raises(Exception, match=refusal):
            call_hook(t, name)

    @drill("corpus.drill", restore=("redis_up",))
    def body(t: Target, d: Drill) -> Any:
        d.hook("redis_down")
        return passed("never")

    outcome = body(t)
    assert outcome.status == Status.ERROR and refusal in outcome.summary
    assert "restore redis_up failed (attempt 3)" in str(outcome.evidence["events"])


def drill_hooks_direct(c: Corpus) -> None:
    from checks.engine.drill_settings import HOOK_NAMES

    hooks = "".join(
        f'[hooks.{name}]\nurl = "{c.forbidden_url}/chaos/{name}"\n' for name in HOOK_NAMES
    )
    t = c.target(f'base_url = "{c.redirector.url}"\n{hooks}')
    _hooks_everywhere(t, "destination refused: 127.0.0.2")


def drill_hooks_redirected(c: Corpus) -> None:
    t = c.target(
        f'base_url = "{c.redirector.url}"\n[hooks]\npreset = "reference"\ntoken = "hook-t"\n'
    )
    _hooks_everywhere(t, "answered 307")


# --- notifications and the CI gate (Django) ----------------------------------------------


def webhooks(c: Corpus) -> None:
    from portal.models import Team
    from reviews.models import TeamWebhook
    from reviews.notify import deliver_webhook

    c.settings()
    team = Team.objects.create(name="Corpus", slug="corpus")
    direct = TeamWebhook.objects.create(team=team, url=f"{c.forbidden_url}/hook")
    redirected = TeamWebhook.objects.create(team=team, url=f"{c.redirector.url}/hook")
    assert deliver_webhook(direct.pk, {"text": "x"}) == "refused"
    deliver_webhook(redirected.pk, {"text": "x"})  # a 307 is its answer, never followed


def launch_gate_remote(c: Corpus) -> None:
    from django.core.management import call_command

    c.settings()
    monkeypatch = c.request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("PREFLIGHT_API_TOKEN", "gate-token")
    for url in (c.forbidden_url, c.redirector.url):
        with pytest.raises(SystemExit) as exited:
            call_command("launch_gate", "orders", url=url)
        assert exited.value.code == 2


# --- adding a service from its staging URL (discovery, Django) ------------------------------


def discovery_from_the_portal(c: Corpus) -> None:
    """A lead asks the portal to discover a service; the worker's task (called here as a
    function) reads the document, probes routes and logs in once. Aimed at the forbidden
    listener directly, through the redirector, and as the client-credentials token URL of an
    allowed service's document (where the confirming login would go)."""
    from fastapi import Depends, FastAPI
    from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
    from fastapi.security import OAuth2

    from checks.models import DiscoveryJob
    from checks.tasks import discover_service
    from tests.checks.discovery_support import serve_app, signed_in, start

    c.settings()
    team = c.request.getfixturevalue("team")
    c.request.getfixturevalue("lead")
    c.request.getfixturevalue("template")
    app = FastAPI()
    flows = OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl=f"{c.forbidden_url}/t")
    )

    @app.get("/things", dependencies=[Depends(OAuth2(flows=flows))])
    def things() -> list[str]:
        return []

    client = signed_in("lead")
    with serve_app(app) as token_url_service:
        for slug, url, openapi_url in (
            ("direct", c.forbidden_url, ""),
            # The redirector's own document is found (FastAPI serves it), its routes answer
            # 307 and are not followed; a document URL that redirects is followed, and refused.
            ("redirected", c.redirector.url, f"{c.redirector.url}/spec.json"),
            ("token-url", token_url_service, ""),
        ):
            response = start(
                client,
                team,
                url,
                slug=slug,
                openapi_url=openapi_url,
                username="client",
                password="pw-1234",
            )
            assert response.status_code == 302
            job = DiscoveryJob.objects.get(slug=slug)
            assert discover_service(job.pk) == "failed"
            job.refresh_from_db()
            assert job.reason == "refused", job.message
            assert "destination refused: 127.0.0.2" in job.message, job.message


# --- git (repository checks) ---------------------------------------------------------------


def git_clone(c: Corpus) -> None:
    port = c.forbidden.port
    for url in (
        f"{c.forbidden_url}/org/orders.git",
        f"https://{FORBIDDEN}:{port}/org/orders.git",
        f"ssh://git@{FORBIDDEN}:{port}/org/orders.git",
        f"{c.redirector.url}/org/orders.git",
    ):
        t = c.target(f'base_url = "{c.redirector.url}"\n[repo]\nurl = "{url}"\ntimeout_s = 10\n')
        outcome = run_one(t, REGISTRY["repo.dockerfile_multistage"])
        t.close()
        assert outcome.status == Status.ERROR, (url, outcome)


# --- MongoDB -------------------------------------------------------------------------------


def mongo_seed(c: Corpus) -> None:
    t = c.target(
        f'base_url = "{c.redirector.url}"\n[mongo]\n'
        f'uri = "mongodb://u:pw@{FORBIDDEN}:{c.forbidden.port}/shop"\ntimeout_ms = 500\n'
    )
    outcome = run_one(t, REGISTRY["db.write_concern"])
    assert outcome.summary == "destination refused: 127.0.0.2: address not in the allowlist"


MONGO_OPTIONS = [
    # Each would make the driver fetch a credential from somewhere: never let it start.
    "authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:x",
    "authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:gcp,TOKEN_RESOURCE:x",
    "authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test",
    "authMechanism=MONGODB-AWS",
    "authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:t",
    "authMechanism=GSSAPI&authMechanismProperties=SERVICE_HOST:127.0.0.2",
    "authMechanism=MONGODB-X509&tls=true&tlsCertificateKeyFile=/etc/hostname",
]


def mongo_uri_options(c: Corpus) -> None:
    import dataclasses

    from checks.engine.mongo_settings import MongoSettings

    monkeypatch = c.request.getfixturevalue("monkeypatch")
    # Where the AWS mechanism would look for credentials: the forbidden listener.
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{c.forbidden_url}/creds")
    seed = f"{ALLOWED}:{closed_port()}"
    base = c.target(f'base_url = "{c.redirector.url}"\n')
    before = len(TRIPWIRE.connects)
    for options in MONGO_OPTIONS:
        t = Target(base.profile, base.http)
        # No password: the credential-fetching mechanisms take none (as in the attack).
        uri = f"mongodb://{seed}/shop?{options}"
        t.profile = dataclasses.replace(t.profile, mongo=MongoSettings(uri=uri, timeout_ms=500))
        outcome = run_one(t, REGISTRY["db.write_concern"])
        assert outcome.status == Status.ERROR and "URI option" in outcome.summary, outcome
    assert TRIPWIRE.connects[before:] == []  # refused before the driver existed


def mongo_replica_set(c: Corpus) -> None:
    member = f"{FORBIDDEN}:{c.forbidden.port}"
    for mongo in (
        WireMongo(replica_set="rs0", members=[member]),
        WireMongo(replica_set="rs0", primary=member),
    ):
        with running(mongo):
            t = c.target(
                f'base_url = "{c.redirector.url}"\n[mongo]\nreplica_set = true\n'
                f'uri = "{mongo.uri()}?replicaSet=rs0"\ntimeout_ms = 1000\n'
            )
            outcome = run_one(t, REGISTRY["db.write_concern"])
            t.close()
        assert outcome.summary == "destination refused: 127.0.0.2: address not in the allowlist"


# --- the Locust load drill -----------------------------------------------------------------

LOAD = "[load]\ntarget_rps = 4\nduration_s = 2\nusers = 2\n"


def load_direct(c: Corpus) -> None:
    t = c.target(f'base_url = "{c.forbidden_url}"\n[auth]\nusername = "p"\npassword = "pw"\n{LOAD}')
    outcome = run_one(t, REGISTRY["load.target_rps"])
    assert outcome.status == Status.ERROR and "destination refused" in outcome.summary


def load_redirected(c: Corpus) -> None:
    t = c.target(
        f'base_url = "{c.redirector.url}"\n[auth]\nusername = "p"\npassword = "pw"\n{LOAD}'
    )
    outcome = run_one(t, REGISTRY["load.target_rps"])
    assert outcome.status == Status.FAIL, outcome.summary
    assert outcome.evidence["redirects"] > 0 and "redirects, not followed" in outcome.summary
    assert outcome.evidence["redirects"] == outcome.evidence["totals"]["requests"]


def load_dns_rebinding(c: Corpus) -> None:
    """The policy resolves "localhost" to an allowed address (127.0.0.2 here) while the
    system resolver, which Locust would use, answers 127.0.0.1, where a forbidden listener
    waits on the same port: only a pinned Locust misses it. Over https, so the certificate
    check and SNI must keep working on the name while connecting to the pinned IP."""
    policy = DestinationPolicy(["localhost", FORBIDDEN])  # here 127.0.0.1 is the forbidden one

    def resolve(host: str, port: int) -> list[IPAddress]:
        assert host == "localhost"
        return [ipaddress.ip_address(FORBIDDEN)]

    app, seen = create_staging()
    with serve(app, seen, host=FORBIDDEN, tls_names=("localhost",)) as staging:
        c.listen(ALLOWED, staging.port)
        with_v6 = socket.has_ipv6
        if with_v6:
            c.listen("::1", staging.port)
        text = profile(
            f'base_url = "https://localhost:{staging.port}"\n'
            f'[auth]\nusername = "p"\npassword = "pw"\n[tls]\nca_file = "{staging.ca_file}"\n'
            + LOAD
        )
        parsed = parse_profile(text, env={})
        assert staging.ca_file is not None
        client = GuardedClient(
            policy, verify=staging.ca_file, backend=GuardedBackend(policy, resolver=resolve)
        )
        t = Target(parsed, client, policy=policy)
        outcome = run_one(t, REGISTRY["load.target_rps"])
        client.close()
    assert outcome.evidence["totals"]["requests"] > 0, outcome.summary
    assert outcome.evidence["totals"]["failures"] == 0, outcome.evidence["failures"]
    assert set(seen.hosts) == {f"localhost:{staging.port}"}  # Host header kept


# --- single sign-on (sso/): discovery, token, JWKS, userinfo -------------------------------


def sso_sign_in(c: Corpus) -> None:
    from django.test import Client

    from sso import provider as sso_provider
    from tests.sso.conftest import configure
    from tests.support.oidc_provider import ForgedProvider, sign_in

    settings = c.settings()
    for issuer, said in (
        (c.forbidden_url, "destination refused"),
        (c.redirector.url, "answered 307"),
    ):
        configure(settings, issuer)
        answer = Client().get("/sso/start/")
        assert answer.status_code == 503 and said in answer.context["reason"], answer.content
    claims = {"sub": "x", "preferred_username": "x"}
    for endpoint in ("token_endpoint", "jwks_uri", "userinfo_endpoint"):
        for url in (f"{c.forbidden_url}/{endpoint}", f"{c.redirector.url}/{endpoint}"):
            with ForgedProvider(claims=claims) as forged:
                forged.discovery_overrides = {endpoint: url}
                configure(settings, forged.issuer)
                answer = sign_in(Client(), "x").response
            assert answer.status_code == 403, (endpoint, url, answer.content[:300])
            assert ("destination refused" in answer.context["reason"]) or (
                "answered 307" in answer.context["reason"]
            ), answer.context["reason"]
    sso_provider.reset_cache()


# --- the software catalog import (catalogsync/): its HTTP API and its git repositories ------


def catalog_sources(c: Corpus) -> None:
    from catalogsync.services import import_catalog

    c.settings()
    port = c.forbidden.port
    for source, said in (
        (c.forbidden_url, "destination refused: 127.0.0.2"),
        (f"{c.forbidden_url}/api/catalog", "destination refused: 127.0.0.2"),
        (c.redirector.url, "answered 307"),
        (f"git+{c.forbidden_url}/org/catalog.git", "destination refused: 127.0.0.2"),
        (f"git+https://{FORBIDDEN}:{port}/org/catalog.git", "destination refused: 127.0.0.2"),
        (f"git+ssh://git@{FORBIDDEN}:{port}/org/catalog.git", "destination refused: 127.0.0.2"),
        (f"git+{c.redirector.url}/org/catalog.git", "git clone failed"),
    ):
        sync, _ = import_catalog(source=source)
        assert sync is not None and sync.status == "failed", (source, sync)
        assert said in sync.error, (source, sync.error)


def django(path: Callable[[Corpus], None]) -> Any:
    return pytest.param(path, marks=pytest.mark.django_db, id=path.__name__)


OUTBOUND_PATHS = [
    http_checks_direct,
    http_checks_redirected,
    drill_hooks_direct,
    drill_hooks_redirected,
    django(webhooks),
    django(launch_gate_remote),
    django(discovery_from_the_portal),
    git_clone,
    mongo_seed,
    mongo_uri_options,
    mongo_replica_set,
    load_direct,
    load_redirected,
    load_dns_rebinding,
    django(sso_sign_in),
    django(catalog_sources),
]


@pytest.fixture(scope="module")
def redirector_and_listener() -> Iterator[tuple[Served, CountingListener]]:
    forbidden = CountingListener(FORBIDDEN)
    app, seen = create_staging(redirect_to=f"http://{FORBIDDEN}:{forbidden.port}")
    with serve(app, seen) as redirector:
        yield redirector, forbidden
    forbidden.close()


@pytest.mark.parametrize("path", OUTBOUND_PATHS, ids=lambda p: getattr(p, "__name__", str(p)))
def test_no_outbound_path_reaches_the_forbidden_listener(
    path: Callable[[Corpus], None],
    redirector_and_listener: tuple[Served, CountingListener],
    request: pytest.FixtureRequest,
) -> None:
    redirector, forbidden = redirector_and_listener
    corpus = Corpus(forbidden, redirector, request=request)
    before = forbidden.accepted
    TRIPWIRE.armed = True
    try:
        path(corpus)
    finally:
        TRIPWIRE.armed = False
        threading.Event().wait(0.1)  # a connect in flight would have landed by now
        listeners = [forbidden, *corpus.listeners]
        accepted = {(x.host, x.port): x.accepted for x in listeners}
        accepted[(forbidden.host, forbidden.port)] -= before
        for listener in corpus.listeners:
            listener.close()
    assert set(accepted.values()) == {0}, accepted
    assert TRIPWIRE.outside == []
    assert not [a for a in TRIPWIRE.connects if (a[0], a[1]) in accepted]


def test_the_tripwire_and_the_listener_do_count() -> None:
    """Guards the corpus: a 0 must mean "no connection", not "nothing was watching"."""
    listener = CountingListener(FORBIDDEN)
    TRIPWIRE.armed = True
    try:
        with socket.create_connection((FORBIDDEN, listener.port), timeout=2):
            pass
        with pytest.raises(PermissionError):
            socket.create_connection(("192.0.2.1", 9), timeout=0.1)  # TEST-NET: never sent
    finally:
        TRIPWIRE.armed = False
    threading.Event().wait(0.1)
    listener.close()
    assert listener.accepted == 1
    assert (FORBIDDEN, listener.port) in TRIPWIRE.connects and TRIPWIRE.outside
    TRIPWIRE.outside.clear()
    TRIPWIRE.connects.clear()
