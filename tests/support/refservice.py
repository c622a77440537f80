"""Run the reference service over real HTTP on loopback, for tests.

`run_reference_service()` starts one instance (uvicorn in a background thread, on a free port)
and yields a `RunningReferenceService` with its base URL and the secrets it was started with.
Fixtures: `reference_service` (a healthy instance per test module) and
`reference_service_factory` (start instances with options; all stopped at teardown).
"""

from __future__ import annotations

import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import trustme
import uvicorn
from fastapi import FastAPI

from examples.reference_service import RefConfig, create_app

_START_TIMEOUT = 10.0


@dataclass
class RunningReferenceService:
    base_url: str
    password: str
    otp_secret: str
    drill_token: str | None
    app: FastAPI
    config: RefConfig
    ca_path: str | None = None
    username: str = "probe"
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this instance (trusts the test CA when TLS is on)."""
        kwargs.setdefault("base_url", self.base_url)
        kwargs.setdefault("timeout", 10.0)
        kwargs.setdefault("verify", _verify(self.ca_path))
        return httpx.Client(**kwargs)

    def totp(self) -> pyotp.TOTP:
        return pyotp.TOTP(self.otp_secret)

    def login(self, scope: str | None = None) -> dict[str, Any]:
        """A fresh login (counts against the login rate limit)."""
        body: dict[str, Any] = {"username": self.username, "password": self.password}
        if scope is not None:
            body["scope"] = scope
        with self.client() as client:
            response = client.post("/auth/login", json=body)
        response.raise_for_status()
        tokens: dict[str, Any] = response.json()
        return tokens

    def auth_headers(self, scope: str | None = None) -> dict[str, str]:
        """Bearer headers, cached per scope so tests do not burn the login limit."""
        key = scope or "*"
        if key not in self._tokens:
            self._tokens[key] = self.login(scope)
        return {"Authorization": f"Bearer {self._tokens[key]['access_token']}"}

    def drill_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.drill_token}"} if self.drill_token else {}


def _verify(ca_path: str | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=ca_path) if ca_path else True


def _free_socket() -> socket.socket:
    # Binding port 0 and handing the bound socket to uvicorn avoids a find-then-bind race.
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def _tls_files() -> Iterator[tuple[str, str, str]]:
    """(ca bundle, certificate chain, private key) for 127.0.0.1/localhost from a fresh CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    with tempfile.TemporaryDirectory(prefix="refservice-tls-") as tmp:
        ca_path = Path(tmp, "ca.pem")
        cert_path = Path(tmp, "cert.pem")
        key_path = Path(tmp, "key.pem")
        ca.cert_pem.write_to_path(str(ca_path))
        cert.private_key_pem.write_to_path(str(key_path))
        cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        yield str(ca_path), str(cert_path), str(key_path)


@contextmanager
def run_reference_service(
    *,
    flaws: Iterable[str] = (),
    tls: bool = False,
    https_redirect_to: str | None = None,
    redis_url: str | None = None,
    **overrides: Any,
) -> Iterator[RunningReferenceService]:
    """Start an instance on a free loopback port; stop it when the block exits.

    `overrides` are RefConfig fields (login_limit=3, jwt_secret="...", version="2.0.0", ...).
    """
    password = overrides.pop("probe_password", None) or secrets.token_urlsafe(16)
    otp_secret = overrides.pop("otp_secret", None) or pyotp.random_base32()
    # drill_token=None is meaningful (no drill hooks at all), so only a missing key gets one.
    drill_token = overrides.pop("drill_token", secrets.token_urlsafe(16))
    config = RefConfig(
        probe_password=password,
        otp_secret=otp_secret,
        drill_token=drill_token,
        flaws=frozenset(flaws),
        redis_url=redis_url,
        https_redirect_to=https_redirect_to,
        **overrides,
    )
    app = create_app(config)

    with ExitStack() as stack:
        ssl_kwargs: dict[str, Any] = {}
        ca_path: str | None = None
        if tls:
            ca_path, cert_path, key_path = stack.enter_context(_tls_files())
            ssl_kwargs = {"ssl_certfile": cert_path, "ssl_keyfile": key_path}
        sock = _free_socket()
        stack.callback(sock.close)
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                proxy_headers=False,
                lifespan="on",
                # Keep-alive connections from a shared client must not hold shutdown for long.
                timeout_graceful_shutdown=1,
                **ssl_kwargs,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"refservice-{port}", daemon=True
        )
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(setattr, server, "should_exit", True)

        scheme = "https" if tls else "http"
        base_url = f"{scheme}://127.0.0.1:{port}"
        _wait_until_answering(server, thread, base_url, ca_path)
        yield RunningReferenceService(
            base_url=base_url,
            password=password,
            otp_secret=otp_secret,
            drill_token=drill_token,
            app=app,
            config=config,
            ca_path=ca_path,
            username=config.probe_username,
        )


def _wait_until_answering(
    server: uvicorn.Server, thread: threading.Thread, base_url: str, ca_path: str | None
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("reference service thread died during startup")
        if server.started:
            try:
                # Any answer will do: flawed or redirecting instances do not answer 200.
                httpx.get(base_url + "/health", verify=_verify(ca_path), timeout=1.0)
                return
            except httpx.TransportError:
                pass
        time.sleep(0.02)
    raise RuntimeError(f"reference service at {base_url} did not start in {_START_TIMEOUT} s")


@pytest.fixture(scope="module")
def reference_service() -> Iterator[RunningReferenceService]:
    """A healthy instance shared by one test module."""
    with run_reference_service() as service:
        yield service


@pytest.fixture
def reference_service_factory() -> Iterator[Callable[..., RunningReferenceService]]:
    """Start instances with options (same keywords as run_reference_service)."""
    with ExitStack() as stack:

        def start(**options: Any) -> RunningReferenceService:
            return stack.enter_context(run_reference_service(**options))

        yield start
