"""The load drill's traffic: Locust users over the reference API's representative mix.

Run only by checks/engine/locust_runner.py as a ``locust`` subprocess (never imported: Locust
monkey-patches the process with gevent). Settings come from PREFLIGHT_LOAD_* variables or
the matching ``--preflight-*`` options; a Locust master forwards them to its workers, so the
same file serves a distributed run (README, "Drills").

Outbound rules (the load is user-configured traffic like any check's, see docs/security.md):

- Connections go only to ``--preflight-address``, the IP the run's DestinationPolicy judged
  for the base URL's host (checks/catalog/load.py). Locust's FastHttpUser would resolve the
  name itself (geventhttpclient), so a second DNS answer could move it: the client pool here
  connects to the pinned IP instead, while the Host header, TLS SNI and the certificate check
  keep using the base URL's host name. Any other host or port is refused without a connect.
- Redirects are never followed: a 3xx is the service's answer, counted as a failure
  ("redirect 302 not followed") so it shows in the error rate and the evidence.

The load dies with its drill's execution: Locust runs in a process group of its own, and this
file watches the process that started it (``PREFLIGHT_LOAD_PARENT_PID``). When that process is
gone (a worker killed with ``kill -9`` runs no ``finally``), the whole group is killed at once,
so no orphaned load keeps hitting the service.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
from typing import Any

import certifi
import gevent
import gevent.ssl
from geventhttpclient.client import HTTPClient, HTTPClientPool
from geventhttpclient.url import URL
from locust import FastHttpUser, constant_throughput, events, task

REDIRECTS = range(300, 400)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--preflight-rate-per-user",
        type=float,
        env_var="PREFLIGHT_LOAD_RATE_PER_USER",
        default=1.0,
        help="requests a second each user sends",
    )
    parser.add_argument(
        "--preflight-items-path", env_var="PREFLIGHT_LOAD_ITEMS_PATH", default="/items"
    )
    parser.add_argument(
        "--preflight-token",
        env_var="PREFLIGHT_LOAD_TOKEN",
        default="",
        include_in_web_ui=False,
        help="bearer token (from the environment: never put it on a command line)",
    )
    parser.add_argument(
        "--preflight-address",
        env_var="PREFLIGHT_LOAD_ADDRESS",
        default="",
        include_in_web_ui=False,
        help="the judged IP of --host's name: every connection goes there (required)",
    )
    parser.add_argument(
        "--preflight-ca-file",
        env_var="PREFLIGHT_LOAD_CA_FILE",
        default="",
        include_in_web_ui=False,
        help="CA bundle for https (default: certifi's)",
    )


PARENT_POLL_S = 0.25


def _die_with_parent(parent: int) -> None:
    """Kill this process group as soon as ``parent`` is no longer our parent (it died)."""
    while True:
        if os.getppid() != parent:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        gevent.sleep(PARENT_POLL_S)


@events.init.add_listener
def _watch_parent(environment: Any, **_: Any) -> None:
    parent = int(os.environ.get("PREFLIGHT_LOAD_PARENT_PID") or 0)
    if parent:
        gevent.spawn(_die_with_parent, parent)


class RefusedDestination(Exception):
    """A request for a host other than the checked one; nothing was connected."""


class PinnedClientPool(HTTPClientPool):
    """geventhttpclient's per-host pool, limited to one (host, port) and pinned to one IP.

    Each HTTPClient keeps the URL's host for its Host header and SNI; only the address its
    connection pool connects to is replaced by the judged IP, so no DNS lookup happens.
    """

    def __init__(self, host: str, port: int, address: str, **client_args: Any) -> None:
        super().__init__(**client_args)
        self.host, self.port, self.address = host.lower(), port, address

    def get_client(self, url: str | URL) -> HTTPClient:
        parsed = url if isinstance(url, URL) else URL(url)
        if (str(parsed.host).lower(), parsed.port) != (self.host, self.port):
            raise RefusedDestination(
                f"destination refused: {parsed.host}:{parsed.port} is not the checked host"
            )
        client = super().get_client(parsed)
        pool = client._connection_pool
        if not client.use_proxy and pool._connection_host != self.address:
            pool._connection_host = self.address
        return client


class ApiUser(FastHttpUser):
    """One client: lists, reads (the cache's hot path) and creates, paced to a fixed rate."""

    max_redirects = 0  # a 3xx is an answer, never followed (see the module docstring)
    insecure = False  # https is verified against the base URL's host name
    ids: list[str]

    def __init__(self, environment: Any) -> None:
        options = environment.parsed_options
        ca_file = str(options.preflight_ca_file or "") or certifi.where()

        def tls_context(cafile: str | None = None, **_: Any) -> Any:
            # geventhttpclient offers its own default bundle as ``cafile``: trust ours only.
            return gevent.ssl.create_default_context(cafile=ca_file)

        self.ssl_context_factory = tls_context
        super().__init__(environment)
        address = str(options.preflight_address or "")
        if not address:
            raise RuntimeError("--preflight-address (PREFLIGHT_LOAD_ADDRESS) is required")
        base = URL(str(self.host))
        agent = self.client.client
        port = base.port or (443 if base.scheme == "https" else 80)
        pinned = PinnedClientPool(base.host, port, address, **agent.clientpool.client_args)
        agent.clientpool.close()
        agent.clientpool = pinned

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.pace = constant_throughput(float(options.preflight_rate_per_user))
        self.items = str(options.preflight_items_path).rstrip("/")
        self.auth = {"Authorization": f"Bearer {options.preflight_token}"}
        self.ids = []
        self.create()

    def wait_time(self) -> float:
        return float(self.pace(self))

    def _get(self, path: str, name: str) -> None:
        with self.client.get(
            path, headers=self.auth, name=name, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code in REDIRECTS:
                response.failure(f"redirect {response.status_code} not followed")
            elif response.status_code >= 400 or response.status_code == 0:
                response.failure(f"status {response.status_code}")
            else:
                response.success()

    @task(4)
    def list_items(self) -> None:
        self._get(f"{self.items}?limit=20", f"GET {self.items}")

    @task(4)
    def read_item(self) -> None:
        if not self.ids:
            self.list_items()
            return
        item = random.choice(self.ids)  # noqa: S311 - traffic shape, not security
        self._get(f"{self.items}/{item}", f"GET {self.items}/{{id}}")

    @task(2)
    def create(self) -> None:
        body = {"name": f"preflight-load-{secrets.token_hex(4)}", "tags": ["preflight-load"]}
        with self.client.post(
            self.items,
            json=body,
            headers=self.auth,
            name=f"POST {self.items}",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self.ids = [*self.ids[-19:], str(response.json().get("id"))]
                response.success()
            elif response.status_code in REDIRECTS:
                response.failure(f"redirect {response.status_code} not followed")
            else:
                response.failure(f"status {response.status_code}")
