"""A small FastAPI staging for the security tests, served by uvicorn on any loopback address.

Not the reference service: this one misbehaves on purpose, the ways real services do.

- ``echo``: every answer repeats what was sent. Login answers FastAPI's own 422 whenever the
  password breaks the model's rule (``max_length=8``), whose ``input`` field repeats the
  password; every other route answers a plain-text 404 that repeats the method, path,
  headers and body. With ``accept_login=True`` login succeeds (fresh tokens each time) so
  the tokens come back in later echoes.
- ``redirect_to``: every route but login answers 307 to the same path at another origin
  (an allowed service pointing at a forbidden one).
- otherwise an items API just big enough for the load drill (login, list, read, create,
  /metrics), recording the Host header of every request.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, Field

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


@dataclass
class Seen:
    hosts: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # every token a login handed out
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class StrictLogin(BaseModel):
    username: str
    password: str = Field(max_length=8)  # a "password policy" on the login model
    scope: str | None = None


class Login(BaseModel):
    username: str
    password: str
    scope: str | None = None


def _tokens() -> dict[str, Any]:
    return {
        "access_token": "at-" + secrets.token_urlsafe(24),
        "refresh_token": "rt-" + secrets.token_urlsafe(24),
        "token_type": "bearer",
        "expires_in": 900,
    }


def create_staging(
    *, echo: bool = False, accept_login: bool = False, redirect_to: str | None = None
) -> tuple[FastAPI, Seen]:
    app = FastAPI()
    seen = Seen()
    items: dict[str, dict[str, Any]] = {}

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        with seen.lock:
            seen.requests += 1
            seen.hosts.append(request.headers.get("host", ""))
        response: Response = await call_next(request)
        return response

    def issue() -> dict[str, Any]:
        tokens = _tokens()
        with seen.lock:
            seen.tokens += [tokens["access_token"], tokens["refresh_token"]]
        return tokens

    if echo and not accept_login:

        @app.post("/auth/login")
        def strict_login(body: StrictLogin) -> dict[str, Any]:
            return issue()

    else:

        @app.post("/auth/login")
        def login(body: Login) -> dict[str, Any]:
            return issue()

    if redirect_to is not None:

        @app.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
        def redirect(path: str, request: Request) -> Response:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"{redirect_to}/{path}{query}", status_code=307)

        return app, seen

    if echo:

        @app.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
        async def echo_back(path: str, request: Request) -> Response:
            body = (await request.body()).decode(errors="replace")
            headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
            text = f"no route {request.method} /{path}\n{headers}\n\n{body}"
            return PlainTextResponse(text, status_code=404)

        return app, seen

    @app.get("/items")
    def list_items(limit: int = 20) -> dict[str, Any]:
        return {"items": list(items.values())[:limit], "next_cursor": None}

    @app.get("/items/{item_id}")
    def read_item(item_id: str) -> Response:
        item = items.get(item_id)
        if item is None:
            return JSONResponse({"error": {"code": "not_found"}}, status_code=404)
        return JSONResponse(item)

    @app.post("/items", status_code=201)
    def create_item(body: dict[str, Any]) -> dict[str, Any]:
        item = {"id": secrets.token_hex(6), **body}
        items[item["id"]] = item
        return item

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse("")

    return app, seen


@dataclass
class Served:
    app: FastAPI
    seen: Seen
    host: str
    port: int
    scheme: str
    ca_file: str | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def bound_socket(host: str, port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def serve(
    app: FastAPI, seen: Seen, *, host: str = "127.0.0.1", tls_names: tuple[str, ...] = ()
) -> Iterator[Served]:
    """Serve ``app`` on ``host`` (a free port) until the block ends; with ``tls_names``, over
    https with a certificate for those names from a fresh CA (``Served.ca_file``)."""
    with ExitStack() as stack:
        ssl: dict[str, Any] = {}
        ca_file = None
        if tls_names:
            ca = trustme.CA()
            cert = ca.issue_cert(*tls_names)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="staging-tls-")))
            ca_file = str(tmp / "ca.pem")
            ca.cert_pem.write_to_path(ca_file)
            cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
            (tmp / "cert.pem").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
            ssl = {"ssl_certfile": str(tmp / "cert.pem"), "ssl_keyfile": str(tmp / "key.pem")}
        sock = bound_socket(host)
        stack.callback(sock.close)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=1, **ssl
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(setattr, server, "should_exit", True)
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("staging did not start")
            time.sleep(0.02)
        yield Served(
            app, seen, host, sock.getsockname()[1], "https" if tls_names else "http", ca_file
        )
