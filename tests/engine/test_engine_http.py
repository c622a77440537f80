"""The guarded client: SSRF policy, no-contact refusals, redirects, caps, timeouts, TLS.

"No contact" is proven with real sockets: a listener on the address the request means whose
accept count must stay 0, or the real sync backend wrapped to count connect attempts where we
cannot listen (metadata, link-local). DNS is faked only through GuardedBackend.resolver.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from checks.engine import http as http_module
from checks.engine.http import (
    DestinationPolicy,
    DestinationRefused,
    GuardedBackend,
    GuardedClient,
    IPAddress,
    Resolver,
    ResponseTooLarge,
    parse_ip,
    shared_client,
)

from .conftest import App, CountingBackend, Listener, Tls, start_app


def fake_dns(answers: dict[str, list[str]]) -> Resolver:
    """A resolver seam replacement: ONLY the DNS answer is fake; sockets stay real."""

    def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in answers[host]]

    return resolve


def client_for(
    allow: list[str],
    backend: CountingBackend | None = None,
    dns: dict[str, list[str]] | None = None,
    **opts: object,
) -> GuardedClient:
    policy = DestinationPolicy(allow)
    guarded = GuardedBackend(policy, inner=backend, resolver=fake_dns(dns) if dns else None)
    return GuardedClient(policy, backend=guarded, **opts)  # type: ignore[arg-type]


# --- policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "meaning"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("[::ffff:7f00:1]", "127.0.0.1"),
        ("::1", "::1"),
    ],
)
def test_it_reads_every_ip_spelling_as_the_address_it_means(spelling: str, meaning: str) -> None:
    assert parse_ip(spelling) == ipaddress.ip_address(meaning)


@pytest.mark.parametrize("host", ["example.com", "cafe.be", "1e100.net", "deadbeef"])
def test_it_treats_real_hostnames_as_hostnames(host: str) -> None:
    assert parse_ip(host) is None


def test_it_refuses_metadata_even_when_allowlisted() -> None:
    policy = DestinationPolicy(["169.254.0.0/16", "fe80::/10", "fd00::/8"])
    for url in ("http://169.254.169.254/latest", "http://[fe80::1]/", "http://[fd00:ec2::254]/"):
        with pytest.raises(DestinationRefused, match="metadata or link-local"):
            policy.check_url(url)


def test_it_refuses_public_addresses_not_in_the_allowlist() -> None:
    with pytest.raises(DestinationRefused, match="not in the allowlist"):
        DestinationPolicy(["10.0.0.0/8"]).check_url("http://93.184.216.34/")


def test_a_named_host_may_resolve_to_public_but_not_multicast_addresses() -> None:
    policy = DestinationPolicy(["*.example.org"])
    assert str(
        policy.check_host("api.example.org", 443, fake_dns({"api.example.org": ["8.8.8.8"]}))
    )
    with pytest.raises(DestinationRefused, match="private, loopback or reserved"):
        policy.check_host("m.example.org", 443, fake_dns({"m.example.org": ["224.0.0.1"]}))
    with pytest.raises(DestinationRefused, match="hostname not in the allowlist"):
        policy.check_url("http://example.org.evil.test/")


# IPv6 addresses that carry an IPv4 address are judged by it. Only the decision function is
# used here: nothing may ever be sent towards metadata or link-local addresses.
EMBEDDED = [
    ("2002:a9fe:a9fe::1", "6to4", "metadata or link-local"),  # 169.254.169.254
    ("2002:7f00:1::", "6to4", "not in the allowlist"),  # 127.0.0.1
    ("2002:0a00:0001::5", "6to4", "not in the allowlist"),  # 10.0.0.1
    # Teredo: server 65.54.227.120, client 127.0.0.1 (stored XOR 0xffffffff).
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo client", "not in the allowlist"),
    # Teredo: server 169.254.169.254, client 192.0.2.45 (stored 3fff:fdd2).
    ("2001:0:a9fe:a9fe:8000:63bf:3fff:fdd2", "Teredo server", "metadata or link-local"),
    ("64:ff9b::a9fe:a9fe", "NAT64", "metadata or link-local"),
    ("64:ff9b::127.0.0.1", "NAT64", "not in the allowlist"),
    ("64:ff9b:1::a9fe:a9fe", "NAT64", "metadata or link-local"),  # /96 layout
    ("64:ff9b:1:a9fe:a9:fe00::", "NAT64", "metadata or link-local"),  # /48 layout (u octet)
    ("64:ff9b:1:0:7f:1::", "NAT64", "not in the allowlist"),  # /64 layout: 127.0.0.1
    ("::ffff:0:a9fe:a9fe", "IPv4-translated", "metadata or link-local"),
    ("::a9fe:a9fe", "IPv4-compatible", "metadata or link-local"),
]


@pytest.mark.parametrize(("address", "kind", "reason"), EMBEDDED)
def test_an_ipv6_address_is_judged_by_the_ipv4_address_it_embeds(
    address: str, kind: str, reason: str
) -> None:
    # The IPv6 ranges (and the harmless half of each Teredo pair) are allowlisted: only the
    # embedded address can refuse.
    ranges = ["2002::/16", "2001::/32", "64:ff9b::/96", "64:ff9b:1::/48", "::/8"]
    policy = DestinationPolicy([*ranges, "65.54.227.120", "192.0.2.45"])
    for named_host in (False, True):
        refusal = policy.address_refusal(ipaddress.ip_address(address), named_host=named_host)
        assert refusal is not None and reason in refusal, refusal
        assert f"embedded in the {kind} address" in refusal
    with pytest.raises(DestinationRefused, match=reason):
        policy.check_url(f"http://[{address}]/")
    resolve = fake_dns({"staging.example": [address]})
    with pytest.raises(DestinationRefused, match=f"embedded in the {kind}"):
        DestinationPolicy(["staging.example"]).check_host("staging.example", 443, resolve)


def test_an_embedded_public_or_allowlisted_ipv4_does_not_refuse_on_its_own() -> None:
    policy = DestinationPolicy(["staging.example", "2002::/16", "64:ff9b::/96", "192.0.2.7"])
    # 6to4 of 8.8.8.8 from a named host: public inside, public outside.
    resolve = fake_dns({"staging.example": ["2002:808:808::1"]})
    assert str(policy.check_host("staging.example", 443, resolve)) == "2002:808:808::1"
    # NAT64 of an allowlisted IPv4 inside an allowlisted IPv6 range.
    assert (
        policy.address_refusal(ipaddress.ip_address("64:ff9b::c000:207"), named_host=False) is None
    )
    # ... but the IPv6 address still has to pass on its own: 2001:db8:: is documentation space.
    refusal = policy.address_refusal(ipaddress.ip_address("2001:db8::1"), named_host=True)
    assert refusal == "private, loopback or reserved address not in the allowlist"


def test_it_refuses_non_http_schemes() -> None:
    with pytest.raises(DestinationRefused, match="scheme"):
        DestinationPolicy(["127.0.0.1"]).check_url("file:///etc/passwd")


# --- refused before any connection ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host"),
    [("http://169.254.169.254/latest", "169.254.169.254"), ("http://[fe80::1]:80/", "fe80::1")],
)
def test_metadata_and_link_local_are_never_contacted(
    url: str, host: str, counting_backend: CountingBackend
) -> None:
    client = client_for(["169.254.169.254", "fe80::/10"], counting_backend)
    with pytest.raises(DestinationRefused):
        client.get(url)
    # Skip the URL pre-check to prove the connect-time gate refuses on its own too.
    with pytest.raises(DestinationRefused):
        client.backend.connect_tcp(host, 80)
    assert counting_backend.connects == []


@pytest.mark.parametrize(
    "spelling", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]"]
)
def test_disguised_loopback_is_refused_before_connecting(
    spelling: str, listener: Listener, counting_backend: CountingBackend
) -> None:
    client = client_for(["192.0.2.10"], counting_backend)
    with pytest.raises(DestinationRefused) as refused:
        client.get(f"http://{spelling}:{listener.port}/health")
    assert refused.value.address == "127.0.0.1"
    assert counting_backend.connects == []
    assert listener.settle() == 0


def test_a_hostname_resolving_to_a_private_address_is_refused(
    listener: Listener, counting_backend: CountingBackend
) -> None:
    # Mocked: only the DNS answer (svc.staging.test -> 127.0.0.1). The listener is real.
    client = client_for(["svc.staging.test"], counting_backend, {"svc.staging.test": ["127.0.0.1"]})
    with pytest.raises(DestinationRefused) as refused:
        client.get(f"http://svc.staging.test:{listener.port}/")
    assert (refused.value.host, refused.value.address) == ("svc.staging.test", "127.0.0.1")
    assert counting_backend.connects == []
    assert listener.settle() == 0


def test_one_bad_answer_among_good_ones_refuses_the_host(listener: Listener) -> None:
    # Mocked DNS answer: a public and a private address, as a rebinding attacker would serve.
    client = client_for(["svc.staging.test"], None, {"svc.staging.test": ["8.8.8.8", "127.0.0.1"]})
    with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1"):
        client.get(f"http://svc.staging.test:{listener.port}/")
    assert listener.settle() == 0


def test_it_connects_to_the_checked_address_and_keeps_the_host_header(app: App) -> None:
    # Mocked DNS answer only; the request really reaches the app on 127.0.0.1.
    client = client_for(
        ["svc.staging.test", "127.0.0.0/8"], None, {"svc.staging.test": ["127.0.0.1"]}
    )
    response = client.get(f"http://svc.staging.test:{app.port}/health")
    assert response.status_code == 200
    assert response.json()["host"] == f"svc.staging.test:{app.port}"


# --- redirects --------------------------------------------------------------------------


def test_a_redirect_to_a_refused_address_is_not_followed(app: App) -> None:
    hidden = Listener("127.0.0.2")  # loopback too, but not allowlisted
    try:
        client = client_for(["127.0.0.1"])
        to = f"http://127.0.0.2:{hidden.port}/secret"
        first_hop = client.get(f"{app.url}/redirect?to={to}")
        assert first_hop.status_code == 302  # the first hop is allowed
        with pytest.raises(DestinationRefused) as refused:
            client.get(f"{app.url}/redirect?to={to}", follow_redirects=True)
        assert refused.value.address == "127.0.0.2"
        assert hidden.settle() == 0
    finally:
        hidden.close()


def test_a_redirect_to_an_unlisted_hostname_is_refused(app: App) -> None:
    client = client_for(["127.0.0.1"])
    with pytest.raises(DestinationRefused, match="hostname not in the allowlist"):
        client.get(
            f"{app.url}/redirect?to=http://localhost:{app.port}/health", follow_redirects=True
        )


def test_allowed_redirects_are_followed_and_credentials_dropped_across_origins(
    app: App, second_app: App
) -> None:
    client = client_for(["127.0.0.1"])
    same = client.get(f"{app.url}/redirect?to=/health", follow_redirects=True)
    assert same.status_code == 200 and [r.status_code for r in same.history] == [302]
    moved = client.post(
        f"{app.url}/redirect?to={second_app.url}/echo&code=302",
        headers={"Authorization": "Bearer secret"},
        json={"a": 1},
        follow_redirects=True,
    )
    assert moved.json()["method"] == "GET"
    assert "Authorization" not in moved.json()["headers"]


def test_it_stops_after_five_redirects(app: App) -> None:
    client = client_for(["127.0.0.1"])
    with pytest.raises(httpx.TooManyRedirects):
        client.get(f"{app.url}/loop", follow_redirects=True)
    assert len(app.state.requests) == 6


# --- caps, timeouts, environment ----------------------------------------------------------


def test_a_body_over_the_cap_is_refused_whether_declared_or_streamed(app: App) -> None:
    client = client_for(["127.0.0.1"], max_body_bytes=50_000)
    assert len(client.get(f"{app.url}/big?n=1000").content) > 1000
    with pytest.raises(ResponseTooLarge):
        client.get(f"{app.url}/big?n=100000")
    with pytest.raises(ResponseTooLarge):
        client.get(f"{app.url}/stream-big?chunks=64")
    assert len(client.get(f"{app.url}/stream-big?chunks=4").content) == 4 * 4096


def test_a_slow_server_times_out(app: App) -> None:
    client = client_for(["127.0.0.1"], timeout=5.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{app.url}/slow?s=1", timeout=0.2)


def test_proxy_variables_are_ignored(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://192.0.2.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://192.0.2.1:9")
    assert client_for(["127.0.0.1"]).get(f"{app.url}/health").status_code == 200


def test_one_client_serves_many_threads(app: App) -> None:
    client = client_for(["127.0.0.1"])
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: client.get(f"{app.url}/status/{200 + i % 2}"), range(32)))
    assert sorted({r.status_code for r in codes}) == [200, 201]


def test_shared_client_is_cached_per_options() -> None:
    policy = DestinationPolicy(["127.0.0.1"])
    assert shared_client(policy) is shared_client(DestinationPolicy(["127.0.0.1"]))
    assert shared_client(policy) is not shared_client(policy, timeout=3)


# --- TLS ----------------------------------------------------------------------------------


def tls_app(tls: Tls, hostname: str, seen_sni: list[str | None]) -> tuple[App, Callable[[], None]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.ca.issue_cert(hostname).configure_cert(context)

    def remember(_sock: object, server_name: str | None, _ctx: object) -> None:
        seen_sni.append(server_name)

    context.sni_callback = remember
    return start_app(ssl_context=context)


def test_tls_verifies_the_hostname_while_connecting_to_the_checked_ip(tls: Tls) -> None:
    seen: list[str | None] = []
    served, stop = tls_app(tls, "staging.test", seen)
    try:
        # Mocked DNS answer only: staging.test -> 127.0.0.1. TLS is real, against a trustme CA.
        client = client_for(["staging.test", "127.0.0.1"], None, {"staging.test": ["127.0.0.1"]})
        url = f"https://staging.test:{served.port}/health"
        assert client.get(url, verify=str(tls.ca_file)).status_code == 200
        assert seen[-1] == "staging.test"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(url)  # the default (public) CA bundle does not trust the staging CA
    finally:
        stop()


def test_tls_rejects_a_certificate_for_another_name(tls: Tls) -> None:
    served, stop = tls_app(tls, "other.test", [])
    try:
        # Mocked DNS answer only.
        client = client_for(
            ["staging.test", "127.0.0.1"],
            None,
            {"staging.test": ["127.0.0.1"]},
            verify=str(tls.ca_file),
        )
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://staging.test:{served.port}/health")
    finally:
        stop()


def test_the_tls_context_is_built_on_the_first_https_connection_only(
    app: App, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a CA bundle costs 20-30 ms: a client that only speaks http:// never does it,
    and one that meets https builds the context once for all its connections."""
    built: list[object] = []
    real = http_module._ssl_context
    monkeypatch.setattr(http_module, "_ssl_context", lambda v: built.append(v) or real(v))
    # Mocked DNS answer only: staging.test -> 127.0.0.1.
    client = client_for(
        ["staging.test", "127.0.0.1"],
        None,
        {"staging.test": ["127.0.0.1"]},
        verify=str(tls.ca_file),
    )
    assert client.get(f"{app.url}/status/200").status_code == 200
    assert built == []
    served, stop = tls_app(tls, "staging.test", [])
    try:
        url = f"https://staging.test:{served.port}/health"
        with ThreadPoolExecutor(4) as pool:
            codes = set(pool.map(lambda _: client.get(url).status_code, range(8)))
        assert codes == {200}
        assert len(built) == 1
    finally:
        stop()
        client.close()
