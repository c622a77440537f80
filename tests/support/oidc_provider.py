"""The suite's OpenID Providers for the single sign-on tests, both on loopback.

- :class:`OpenIDProvider`: the real, certified one — panva's ``oidc-provider`` (npm, pinned in
  tests/support/oidc/package-lock.json) run by Debian's nodejs. Installed on first use with
  ``npm ci`` into tests/support/oidc/node_modules (ignored by git); scripts/test.sh does it up
  front. It signs with RSA keys this module makes; a key rotation is a restart with another
  key set (the issuer and port stay).
- :class:`ForgedProvider`: a small test-only issuer for the ID-token faults a certified
  provider never produces (a bad signature, another audience, an expired token, another
  issuer, ``alg: none``, a MAC signed with the client secret). It speaks the same protocol
  (discovery, JWKS, authorize, token with PKCE and client authentication checked, userinfo);
  only the ID token it returns is forged, as the test asks.

:func:`sign_in` plays the browser through either one: Preflight's /sso/start/ (the Django test
client), the provider's pages (httpx, cookies kept), back to Preflight's callback.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import html
import json
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

NODE_DIR = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "preflight"
CLIENT_SECRET = "sso-client-secret-for-the-tests-7Hq"
TESTSERVER = "http://testserver"


# --- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @property
    def private_jwk(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private))
        jwk.pop("key_ops", None)  # ["sign"] alone would keep the provider from verifying with it
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


def new_key(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the real provider -------------------------------------------------------------------------


def ensure_installed() -> Path:
    """node_modules with the pinned oidc-provider; installs it (once, under a lock) if missing."""
    marker = NODE_DIR / "node_modules" / "oidc-provider" / "package.json"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "Debian's nodejs and npm are needed for the OpenID Provider (make test installs them)"
        )
    with (NODE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=NODE_DIR,
                capture_output=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"npm ci for oidc-provider failed: {done.stderr.decode()[-800:]}")
    return Path(node)


@dataclass
class OpenIDProvider:
    workdir: Path
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    token_auth: str = "client_secret_basic"
    keys: list[SigningKey] = field(default_factory=lambda: [new_key("key-1")])
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write(self) -> Path:
        (self.workdir / "jwks.json").write_text(
            json.dumps({"keys": [k.private_jwk for k in self.keys]})
        )
        self.set_accounts(self.accounts)
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "jwks_file": str(self.workdir / "jwks.json"),
            "accounts_file": str(self.workdir / "accounts.json"),
            "cookie_key": secrets.token_hex(16),
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": self.redirect_uris,
                    "post_logout_redirect_uris": self.post_logout_redirect_uris,
                    "token_endpoint_auth_method": self.token_auth,
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                }
            ],
        }
        path = self.workdir / "config.json"
        path.write_text(json.dumps(config))
        return path

    def set_accounts(self, accounts: dict[str, dict[str, Any]]) -> None:
        """Who can sign in and their claims; read by the provider at every sign-in."""
        self.accounts = accounts
        (self.workdir / "accounts.json").write_text(json.dumps(accounts))

    def start(self) -> OpenIDProvider:
        node = ensure_installed()
        config = self._write()
        self.process = subprocess.Popen(
            [str(node), str(NODE_DIR / "provider.mjs"), str(config)],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stderr=(self.workdir / "provider.log").open("ab"),
        )
        assert self.process.stdout is not None
        line = b""
        ready = threading.Event()

        def wait() -> None:
            nonlocal line
            assert self.process is not None and self.process.stdout is not None
            line = self.process.stdout.readline()
            ready.set()

        threading.Thread(target=wait, daemon=True).start()
        if not ready.wait(30) or not line.startswith(b"listening"):
            self.stop()
            log = (self.workdir / "provider.log").read_text(errors="replace")[-1500:]
            pytest.fail(f"oidc-provider did not start: {line!r} {log}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def rotate(self, keys: list[SigningKey]) -> None:
        """Publish (and sign with the first of) ``keys`` from now on: a restart, same issuer."""
        self.stop()
        self.keys = keys
        self.start()


@contextlib.contextmanager
def running(provider: OpenIDProvider) -> Iterator[OpenIDProvider]:
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


# --- the forged provider -----------------------------------------------------------------------

Forge = Callable[[dict[str, Any]], tuple[dict[str, Any], Any, str, dict[str, Any]]]


class ForgedProvider:
    """Discovery, JWKS, authorize, token (PKCE verifier and client secret checked) and
    userinfo, like a provider; the ID token is whatever ``forge`` makes of the honest claims:
    ``forge(claims) -> (claims, signing key, alg, extra headers)``."""

    def __init__(self, *, claims: dict[str, Any]) -> None:
        self.key = new_key("forge-1")
        self.claims = claims
        self.forge: Forge | None = None
        self.token_error: dict[str, Any] | None = None  # answer the token request with this
        self.discovery_overrides: dict[str, str] = {}  # endpoints elsewhere (the SSRF corpus)
        self.codes: dict[str, dict[str, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def honest(self, claims: dict[str, Any]) -> tuple[dict[str, Any], Any, str, dict[str, Any]]:
        return claims, self.key.private, "RS256", {"kid": self.key.kid}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.claims,
        }
        claims, key, alg, headers = (self.forge or self.honest)(claims)
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        forged = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    base = forged.issuer
                    self._json(
                        200,
                        {
                            "issuer": base,
                            "authorization_endpoint": f"{base}/authorize",
                            "token_endpoint": f"{base}/token",
                            "jwks_uri": f"{base}/jwks",
                            "userinfo_endpoint": f"{base}/userinfo",
                            "code_challenge_methods_supported": ["S256"],
                            **forged.discovery_overrides,
                        },
                    )
                elif parts.path == "/jwks":
                    self._json(200, {"keys": [forged.key.public_jwk]})
                elif parts.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    forged.codes[code] = query
                    target = f"{query['redirect_uri']}?" + urlencode(
                        {"code": code, "state": query["state"]}
                    )
                    self.send_response(303)
                    self.send_header("Location", target)
                    self.end_headers()
                elif parts.path == "/userinfo":
                    self._json(200, {"sub": forged.claims["sub"], **forged.claims})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if forged.token_error is not None:
                    self._json(400, forged.token_error)
                    return
                expected = (
                    "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                )
                if self.headers.get("Authorization") != expected:
                    self._json(401, {"error": "invalid_client"})
                    return
                asked = forged.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .decode()
                    .rstrip("=")
                )
                if asked is None or asked.get("code_challenge") != challenge:
                    self._json(400, {"error": "invalid_grant"})
                    return
                self._json(
                    200,
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "id_token": forged.id_token(asked["nonce"]),
                    },
                )

        return Handler

    def __enter__(self) -> ForgedProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the browser's part ------------------------------------------------------------------------

_FORM = re.compile(r"<form[^>]*action=\"([^\"]+)\"[^>]*>(.*?)</form>", re.S)
_INPUT = re.compile(r"<input[^>]*name=\"([^\"]+)\"(?:[^>]*value=\"([^\"]*)\")?", re.S)


@dataclass
class SignIn:
    authorize_url: str
    callback_url: str
    response: Any  # the Django test client's answer to the callback

    @property
    def nonce(self) -> str:
        return parse_qs(urlsplit(self.authorize_url).query)["nonce"][0]


def through_provider(authorize_url: str, login: str, redirect_prefix: str) -> str:
    """Walk the provider's pages as a person would (log in, consent) until it sends the
    browser back; returns that URL (the callback with code and state, or an error)."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        url = authorize_url
        response = browser.get(url)
        for _ in range(20):
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                if url.startswith(redirect_prefix):
                    return url
                response = browser.get(url)
                continue
            forms = _FORM.findall(response.text)
            assert response.status_code == 200 and forms, (
                response.status_code,
                response.text[:500],
            )
            action, body = forms[0]
            fields = {name: html.unescape(value) for name, value in _INPUT.findall(body)}
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any")
            url = urljoin(url, html.unescape(action))
            response = browser.post(url, data=fields)
    raise AssertionError("the provider never sent the browser back")


def sign_in(
    client: Any,
    login: str,
    *,
    tamper: Callable[[str], str] | None = None,
    start: str = "/sso/start/",
) -> SignIn:
    """Preflight's start page -> the provider (as ``login``) -> Preflight's callback."""
    started = client.get(start)
    assert started.status_code == 302, started.content[:300]
    authorize_url = started["Location"]
    if tamper is not None:
        authorize_url = tamper(authorize_url)
    back = through_provider(authorize_url, login, f"{TESTSERVER}/")
    parts = urlsplit(back)
    response = client.get(f"{parts.path}?{parts.query}")
    return SignIn(authorize_url, back, response)


def with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query[name] = value
    return parts._replace(query=urlencode(query)).geturl()
