"""Real local servers for the engine tests: an HTTP(S) app on loopback and a counting listener.

Nothing here mocks HTTP: requests go through real sockets. The only fake is a DNS answer,
injected through GuardedBackend.resolver, which is the seam the http module offers for it.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpcore
import pytest
import trustme

from checks.engine.http import close_shared_clients


@dataclass
class AppState:
    """What the test app saw, and knobs tests turn."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    logins: list[dict[str, Any]] = field(default_factory=list)
    login_status: int = 200
    expires_in: int = 900
    lock: threading.Lock = field(default_factory=threading.Lock)


class AppHandler(BaseHTTPRequestHandler):
    """A tiny service; see the routes in ``_handle``."""

    state: AppState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.state.lock:
            self.state.requests.append((self.command, self.path, dict(self.headers.items())))
        path = parts.path
        if path == "/health":
            self._reply(200, {"status": "ok", "host": self.headers.get("Host")})
        elif path.startswith("/status/"):
            self._reply(int(path.rsplit("/", 1)[1]), {"status": path})
        elif path == "/echo":
            self._reply(200, {"method": self.command, "headers": dict(self.headers.items())})
        elif path == "/redirect":
            self._reply(int(query.get("code", "302")), None, {"Location": query["to"]})
        elif path == "/loop":
            self._reply(302, None, {"Location": "/loop"})
        elif path == "/big":
            self._reply(200, {"blob": "x" * int(query.get("n", "100000"))})
        elif path == "/stream-big":
            # No Content-Length: the cap must be enforced while streaming.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 4096
            for _ in range(int(query.get("chunks", "64"))):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/slow":
            time.sleep(float(query.get("s", "2")))
            self._reply(200, {"slow": True})
        elif path == "/auth/login":
            payload = json.loads(body or b"{}")
            with self.state.lock:
                self.state.logins.append(payload)
                count = len(self.state.logins)
            if self.state.login_status != 200:
                self._reply(self.state.login_status, {"error": {"code": "bad"}})
            else:
                token = f"token-{payload.get('scope')}-{count}"
                self._reply(200, {"access_token": token, "expires_in": self.state.expires_in})
        else:
            self._reply(404, {"error": {"code": "not_found"}})

    do_GET = do_POST = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


@dataclass
class App:
    host: str
    port: int
    state: AppState
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def start_app(
    host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> tuple[App, Callable[[], None]]:
    state = AppState()
    handler = type("Handler", (AppHandler,), {"state": state})
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    app = App(host, server.server_address[1], state, "https" if ssl_context else "http")

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return app, stop


@pytest.fixture
def app() -> Iterator[App]:
    served, stop = start_app()
    yield served
    stop()


@pytest.fixture
def second_app() -> Iterator[App]:
    served, stop = start_app()
    yield served
    stop()


class Listener:
    """A real listening socket that counts the connections it accepts (proof of no contact)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
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

    def settle(self) -> int:
        """Give a would-be connection time to arrive, then report the count."""
        time.sleep(0.15)
        return self.accepted

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = Listener()
    yield sock
    sock.close()


class CountingBackend(httpcore.SyncBackend):
    """The real sync backend, counting connect attempts (for addresses we cannot listen on)."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connects.append((host, port))
        return super().connect_tcp(host, port, *args, **kwargs)


@pytest.fixture
def counting_backend() -> CountingBackend:
    return CountingBackend()


@dataclass
class Tls:
    ca: trustme.CA
    ca_file: Path


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "staging-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return Tls(ca, path)


@pytest.fixture(autouse=True)
def _fresh_shared_clients() -> Iterator[None]:
    yield
    close_shared_clients()
