"""security.tls against a real TLS listener (trustme CA) and a plain instance redirecting to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from checks.engine.http import close_shared_clients
from checks.engine.outcome import Status
from checks.engine.target import Target
from tests.catalog.conftest import run_key, target_for
from tests.support.refservice import RunningReferenceService

Factory = Callable[..., RunningReferenceService]


@pytest.fixture
def start(reference_service_factory: Factory) -> Iterator[Factory]:
    """The factory, with our pooled keep-alive connections closed before the servers stop:
    an open TLS connection otherwise holds the server's shutdown for its full timeout."""
    yield reference_service_factory
    close_shared_clients()


def _tls_target(
    base: RunningReferenceService, https: RunningReferenceService, http_url: str
) -> Target:
    extra = (
        f'[tls]\nhttps_url = "{https.base_url}"\nhttp_url = "{http_url}"\n'
        f'ca_file = "{https.ca_path}"\n'
    )
    return target_for(base, extra=extra)


def test_it_passes_with_hsts_and_a_redirecting_plain_listener(
    start: Factory,
) -> None:
    secure = start(tls=True)
    plain = start(https_redirect_to=secure.base_url)
    outcome = run_key(_tls_target(secure, secure, plain.base_url), "security.tls")
    assert outcome.status == Status.PASS, outcome.as_dict()
    assert outcome.evidence["http"]["status"] == 301


def test_it_fails_without_hsts(start: Factory) -> None:
    secure = start(tls=True, flaws=["no_hsts"])
    plain = start(https_redirect_to=secure.base_url)
    outcome = run_key(_tls_target(secure, secure, plain.base_url), "security.tls")
    assert outcome.status == Status.FAIL
    assert outcome.summary == "no Strict-Transport-Security header"


def test_it_fails_when_plain_http_serves_instead_of_redirecting(
    start: Factory,
) -> None:
    secure = start(tls=True)
    plain = start()
    outcome = run_key(_tls_target(secure, secure, plain.base_url), "security.tls")
    assert outcome.status == Status.FAIL
    assert "answered 200, expected 301 or 308 to https://" in outcome.summary


def test_it_skips_naming_https_url_when_absent(start: Factory) -> None:
    outcome = run_key(target_for(start()), "security.tls")
    assert outcome.status == Status.SKIP
    assert "tls.https_url" in outcome.summary


def test_it_skips_naming_http_url_when_https_is_on_a_non_standard_port(
    start: Factory,
) -> None:
    secure = start(tls=True)
    extra = f'[tls]\nhttps_url = "{secure.base_url}"\nca_file = "{secure.ca_path}"\n'
    outcome = run_key(target_for(secure, extra=extra), "security.tls")
    assert outcome.status == Status.SKIP
    assert "tls.http_url" in outcome.summary


def test_an_untrusted_certificate_is_an_error_not_a_verdict(
    start: Factory,
) -> None:
    secure = start(tls=True)
    plain = start(https_redirect_to=secure.base_url)
    extra = f'[tls]\nhttps_url = "{secure.base_url}"\nhttp_url = "{plain.base_url}"\n'
    outcome = run_key(target_for(plain, extra=extra), "security.tls")
    assert outcome.status == Status.ERROR
