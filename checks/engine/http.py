"""The guarded outbound HTTP client: the ONLY way this project sends HTTP.

Profiles are written by users, so every URL a check touches is attacker-influenced. The
client therefore enforces a destination allowlist (SSRF guard) at the one place where it
cannot be bypassed: the TCP connect. A custom httpcore network backend resolves the host
once, judges every resolved address, and connects to the address it judged, so a second DNS
answer (rebinding) can never steer the socket elsewhere. The Host header, TLS SNI and
certificate checks still use the original hostname because httpcore passes it to
``start_tls`` separately.

Redirects are followed by hand so that every hop passes the same gate, bodies are capped
while streaming, and ``trust_env=False`` keeps proxy variables from rerouting traffic.
"""

from __future__ import annotations

import atexit
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[IPAddress]]
Verify = str | bool

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5

# Refused even when allowlisted: nothing a readiness check needs lives there, and cloud
# credentials do.
_ALWAYS_REFUSED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),  # link-local, incl. 169.254.169.254 metadata
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS IMDS over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
)
_METADATA_REASON = "cloud metadata or link-local address"
# IPv6 ranges that carry an IPv4 address inside them: traffic to them ends up at that IPv4
# address (through a 6to4 relay, a Teredo relay or a NAT64 gateway), so they are judged by it.
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215; the operator picks /48../96
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated, still routed by some stacks
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
# Where RFC 6052 puts the IPv4 bytes for each NAT64 prefix length (byte 8 is the "u" octet).
_RFC6052_SLICES = {48: ((6, 8), (9, 11)), 56: ((7, 8), (9, 12)), 64: ((9, 13),), 96: ((12, 16),)}
# What inet_aton accepts: digits, hex (0x..) and dots only. Anything else is a hostname.
_LEGACY_IPV4 = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+)){0,3}$")


def embedded_ipv4(address: IPAddress) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the mechanism's name.

    6to4 (2002::/16), Teredo (2001::/32: its server and its de-obfuscated client), NAT64
    (64:ff9b::/96, and 64:ff9b:1::/48 at every prefix length RFC 6052 allows, since the
    operator's choice is unknown here), IPv4-mapped, -compatible and -translated forms.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    packed = address.packed
    if address.ipv4_mapped is not None:
        found.append(("IPv4-mapped", address.ipv4_mapped))
    if address in _SIXTOFOUR and address.sixtofour is not None:
        found.append(("6to4", address.sixtofour))
    if address in _TEREDO and address.teredo is not None:
        server, client = address.teredo
        found += [("Teredo server", server), ("Teredo client", client)]
    if address in _NAT64_WELL_KNOWN:
        found.append(("NAT64", ipaddress.IPv4Address(packed[12:16])))
    elif address in _NAT64_LOCAL:
        for slices in _RFC6052_SLICES.values():
            raw = b"".join(packed[a:b] for a, b in slices)
            found.append(("NAT64", ipaddress.IPv4Address(raw)))
    elif address in _IPV4_TRANSLATED:
        found.append(("IPv4-translated", ipaddress.IPv4Address(packed[12:16])))
    elif address in _IPV4_COMPATIBLE and int(address) > 1:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(packed[12:16])))
    return found


class DestinationRefused(Exception):
    """The destination is outside the allowlist; raised before any connection is attempted."""

    def __init__(self, host: str, address: str | None, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        where = host if address is None or address == host else f"{host} ({address})"
        super().__init__(f"destination refused: {where}: {reason}")


class ResponseTooLarge(Exception):
    """The response body exceeded the client's cap; the rest was not read."""

    def __init__(self, url: str, limit: int) -> None:
        self.url = url
        self.limit = limit
        super().__init__(f"response from {url} exceeds {limit} bytes")


def parse_ip(host: str) -> IPAddress | None:
    """Return the IP a host string means, or None for a real hostname.

    Accepts what the OS resolver would treat as an address (inet_aton forms such as
    ``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``), so that no spelling of a private
    address slips past as a "hostname". IPv4-mapped IPv6 is unmapped to the IPv4 it carries.
    """
    text = host.strip("[]")
    try:
        address: IPAddress = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        if not _LEGACY_IPV4.match(text):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve through the OS (getaddrinfo). Tests replace ``GuardedBackend.resolver``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = parse_ip(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class DestinationPolicy:
    """Which hosts the client may reach: exact hostnames, ``*.suffix`` patterns, IPs, CIDRs.

    A destination is allowed when (a) the host is an IP literal inside an allowlisted
    network, or (b) the host is an allowlisted hostname and every address it resolves to is
    public or inside an allowlisted network. Metadata and link-local addresses never pass.
    """

    allow: Sequence[str]
    # Local git repositories (``repo.path``, file:// URLs) read the worker's own disk, so a
    # deployment must opt in (PREFLIGHT_ALLOW_LOCAL_REPOS); off unless asked for.
    allow_local_repos: bool = False
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _suffixes: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = tuple(str(e).strip() for e in self.allow if str(e).strip())
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        suffixes: list[str] = []
        for entry in entries:
            if entry.startswith("*."):
                suffixes.append(_norm_host(entry[1:]))
                continue
            network = _parse_network(entry)
            if network is not None:
                networks.append(network)
            else:
                hosts.add(_norm_host(entry))
        object.__setattr__(self, "allow", entries)
        object.__setattr__(self, "_networks", tuple(networks))
        object.__setattr__(self, "_hosts", frozenset(hosts))
        object.__setattr__(self, "_suffixes", tuple(suffixes))

    def host_allowed(self, host: str) -> bool:
        """Whether a hostname (not an IP) is named by the allowlist."""
        name = _norm_host(host)
        return name in self._hosts or any(name.endswith(s) for s in self._suffixes)

    def address_refusal(self, address: IPAddress, *, named_host: bool) -> str | None:
        """Why ``address`` may not be contacted, or None when it may.

        ``named_host`` is True when the address came from resolving an allowlisted hostname;
        only then may an address outside the allowlisted networks pass, and only if public.
        An IPv6 address that carries an IPv4 address (6to4, Teredo, NAT64, ...) is refused
        when that IPv4 address would be, whatever the IPv6 address itself looks like.
        """
        inner_refusals = [
            (reason, kind)
            for kind, inner in embedded_ipv4(address)
            if (reason := self.address_refusal(inner, named_host=named_host))
        ]
        if inner_refusals:
            # Name the worst: a metadata address outranks "not in the allowlist".
            reason, kind = min(inner_refusals, key=lambda pair: pair[0] != _METADATA_REASON)
            return f"{reason} (embedded in the {kind} address {address})"
        if any(address in net for net in _ALWAYS_REFUSED if net.version == address.version):
            return _METADATA_REASON
        if any(address in net for net in self._networks if net.version == address.version):
            return None
        if not named_host:
            return "address not in the allowlist"
        if (
            address.is_global
            and not address.is_multicast
            and not address.is_reserved
            and not address.is_unspecified
        ):
            return None
        return "private, loopback or reserved address not in the allowlist"

    def check_host(self, host: str, port: int, resolver: Resolver) -> IPAddress:
        """Resolve and judge ``host``; return the address to connect to or raise."""
        literal = parse_ip(host)
        if literal is not None:
            reason = self.address_refusal(literal, named_host=False)
            if reason:
                raise DestinationRefused(host, str(literal), reason)
            return literal
        if not self.host_allowed(host):
            raise DestinationRefused(host, None, "hostname not in the allowlist")
        try:
            addresses = resolver(_norm_host(host), port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        # ANY bad answer refuses the whole host: a mixed answer is how rebinding is staged.
        for address in addresses:
            reason = self.address_refusal(address, named_host=True)
            if reason:
                raise DestinationRefused(host, str(address), reason)
        return addresses[0]

    def check_url(self, url: str) -> None:
        """Cheap pre-flight on a URL (scheme, host, IP literals) before httpx parses it.

        Runs on the raw string because httpx rejects some legacy IPv4 spellings (octal) with
        a parse error; they must be refused as the address they mean, not as "bad URL".
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https"):
            raise DestinationRefused(host or url, None, f"scheme {parts.scheme!r} not allowed")
        if not host:
            raise DestinationRefused(url, None, "URL has no host")
        literal = parse_ip(host)
        if literal is not None:
            reason = self.address_refusal(literal, named_host=False)
            if reason:
                raise DestinationRefused(host, str(literal), reason)
        elif not self.host_allowed(host):
            raise DestinationRefused(host, None, "hostname not in the allowlist")


def _norm_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _parse_network(entry: str) -> IPNetwork | None:
    if "/" in entry:
        try:
            return ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return None
    address = parse_ip(entry)
    return None if address is None else ipaddress.ip_network(address)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore backend that judges the destination and connects to the judged address.

    ``resolver`` is the DNS seam: tests replace it to fake an answer, nothing else.
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        inner: httpcore.NetworkBackend | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.policy = policy
        self.inner = inner or httpcore.SyncBackend()
        self.resolver: Resolver = resolver or system_resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = self.policy.check_host(host, port, self.resolver)
        return self.inner.connect_tcp(
            str(address),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise DestinationRefused(path, None, "unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _ssl_context(verify: Verify) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = certifi.where() if verify is True else str(verify)
    return ssl.create_default_context(cafile=cafile)


_MAX_CONNECTIONS = 100


class _Pool(httpcore.ConnectionPool):
    """httpcore's pool, with the TLS context built on the first https connection: loading the
    CA bundle costs 20-30 ms, which a run against an http:// staging URL never needs and
    which would otherwise hold up every check waiting for the run's first request."""

    def __init__(self, verify: Verify, **options: Any) -> None:
        super().__init__(ssl_context=None, **options)
        self._verify = verify
        self._context_lock = threading.Lock()

    def create_connection(self, origin: httpcore.Origin) -> httpcore.ConnectionInterface:
        if origin.scheme == b"https" and self._ssl_context is None:
            with self._context_lock:
                if self._ssl_context is None:
                    self._ssl_context = _ssl_context(self._verify)
        return super().create_connection(origin)


def _transport(backend: GuardedBackend, verify: Verify) -> httpx.HTTPTransport:
    # Given a context, httpx builds no default one of its own (the CA bundle again) only to
    # have its pool replaced below; a bare client context costs nothing.
    transport = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), trust_env=False)
    # httpx offers no public hook for the network backend, so swap in an equivalent pool
    # that uses ours. HTTPTransport.handle_request only talks to ``_pool``.
    # Keep-alive as many connections as the pool holds: httpcore 1.0.9's sync pool may close a
    # "surplus" keep-alive connection it has just handed to a queued request on another thread
    # (encode/httpcore#1110), which a threads-pool worker running many checks at once met as
    # "[Errno 9] Bad file descriptor".
    transport._pool = _Pool(
        verify,
        max_connections=_MAX_CONNECTIONS,
        max_keepalive_connections=_MAX_CONNECTIONS,
        keepalive_expiry=5.0,
        network_backend=backend,
    )
    return transport


class GuardedClient:
    """Allowlisted, size-capped, timeout-bound HTTP client, safe to share across threads.

    One pooled httpx.Client per distinct ``verify`` value, built lazily: building a client
    costs tens of milliseconds while a pooled request costs about two.
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        timeout: float = 10.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        verify: Verify = True,
        backend: GuardedBackend | None = None,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.verify = verify
        self.backend = backend or GuardedBackend(policy)
        self._clients: dict[Verify, httpx.Client] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _client(self, verify: Verify) -> httpx.Client:
        key: Verify = verify if isinstance(verify, bool) else str(Path(verify).resolve())
        with self._lock:
            if self._closed:
                raise RuntimeError("GuardedClient is closed")
            client = self._clients.get(key)
            if client is None:
                client = httpx.Client(
                    transport=_transport(self.backend, key),
                    trust_env=False,
                    follow_redirects=False,
                    timeout=httpx.Timeout(self.timeout),
                )
                self._clients[key] = client
            return client

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        follow_redirects: bool = False,
        timeout: float | None = None,
        verify: Verify | None = None,
    ) -> httpx.Response:
        """Send one request (and, if asked, its redirects) and return the fully read response.

        Raises DestinationRefused before connecting anywhere outside the policy,
        ResponseTooLarge past the body cap, and httpx transport/timeout errors.
        """
        client = self._client(self.verify if verify is None else verify)
        limit = httpx.Timeout(self.timeout if timeout is None else timeout)
        self.policy.check_url(url)
        request = client.build_request(
            method, url, headers=headers, json=json, content=content, params=params, timeout=limit
        )
        history: list[httpx.Response] = []
        while True:
            response = self._send(client, request)
            if not (follow_redirects and response.is_redirect):
                response.history = history
                return response
            if len(history) >= MAX_REDIRECTS:
                raise httpx.TooManyRedirects(
                    f"more than {MAX_REDIRECTS} redirects", request=request
                )
            history.append(response)
            request = self._redirect(client, request, response, limit)

    def _send(self, client: httpx.Client, request: httpx.Request) -> httpx.Response:
        response = client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                raise ResponseTooLarge(str(request.url), self.max_body_bytes)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise ResponseTooLarge(str(request.url), self.max_body_bytes)
                chunks.append(chunk)
            # What Response.read() would have stored; set by hand because we read capped.
            response._content = b"".join(chunks)
        finally:
            response.close()
        return response

    def _redirect(
        self,
        client: httpx.Client,
        request: httpx.Request,
        response: httpx.Response,
        limit: httpx.Timeout,
    ) -> httpx.Request:
        url = request.url.join(response.headers["location"])
        self.policy.check_url(str(url))
        method = request.method
        keep_body = response.status_code in (307, 308)
        status = response.status_code
        # Browsers' (and httpx's) rules: 303 turns into GET, and so does POST after 301/302.
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method = "GET"
        headers = httpx.Headers(request.headers)
        headers.pop("host", None)
        if not keep_body:
            for name in ("content-length", "content-type", "transfer-encoding"):
                headers.pop(name, None)
        if (url.scheme, url.host, url.port) != (
            request.url.scheme,
            request.url.host,
            request.url.port,
        ):
            # Credentials belong to the origin that was asked, not to wherever it points.
            headers.pop("authorization", None)
            headers.pop("cookie", None)
        return client.build_request(
            method,
            url,
            headers=headers,
            content=request.content if keep_body else None,
            timeout=limit,
        )

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


_shared: dict[tuple[Any, ...], GuardedClient] = {}
_shared_lock = threading.Lock()


def shared_client(
    policy: DestinationPolicy,
    *,
    timeout: float = 10.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    verify: Verify = True,
) -> GuardedClient:
    """The process-wide client for these options, so a run (and a worker) reuses its pools."""
    key = (tuple(policy.allow), float(timeout), int(max_body_bytes), verify)
    with _shared_lock:
        client = _shared.get(key)
        if client is None:
            client = GuardedClient(
                policy, timeout=timeout, max_body_bytes=max_body_bytes, verify=verify
            )
            _shared[key] = client
        return client


@atexit.register
def close_shared_clients() -> None:
    """Close every shared client (at exit, or from tests)."""
    with _shared_lock:
        clients = list(_shared.values())
        _shared.clear()
    for client in clients:
        client.close()
