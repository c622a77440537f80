"""Fixtures for the single sign-on tests: the real OpenID Provider (oidc-provider on nodejs,
loopback) configured for the Django test client, and Preflight's settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalogsync.secrets import register_secrets as register_catalog_secrets
from portal.models import Team
from sso import provider as sso_provider
from sso.secrets import register_secrets
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    TESTSERVER,
    ForgedProvider,
    OpenIDProvider,
    running,
)

ALICE = {
    "preferred_username": "alice",
    "email": "alice@example.com",
    "given_name": "Alice",
    "family_name": "Liddell",
    "groups": ["payments-leads", "launch-reviewers", "everyone"],
}
BOB = {"preferred_username": "bob", "email": "bob@example.com", "groups": ["search-devs"]}
MAPPING = [
    ("payments-leads", "payments:lead"),
    ("payments-devs", "payments:member"),
    ("search-devs", "search"),
]


def configure(settings, issuer: str) -> None:
    settings.PREFLIGHT_OIDC_ISSUER = issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.PREFLIGHT_OIDC_TOKEN_AUTH = "client_secret_basic"
    settings.PREFLIGHT_OIDC_TEAM_GROUPS = MAPPING
    settings.PREFLIGHT_OIDC_REVIEWER_GROUPS = ["launch-reviewers"]
    settings.PREFLIGHT_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    sso_provider.reset_cache()
    register_secrets()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    """The real provider, for the test client (redirect URI on http://testserver)."""
    workdir: Path = tmp_path_factory.mktemp("idp")
    provider = OpenIDProvider(
        workdir,
        redirect_uris=[f"{TESTSERVER}/sso/callback/"],
        post_logout_redirect_uris=[f"{TESTSERVER}/login/"],
        accounts={"alice": ALICE, "bob": BOB},
    )
    with running(provider):
        yield provider


@pytest.fixture
def sso(settings, idp: OpenIDProvider, db: None) -> Iterator[OpenIDProvider]:
    configure(settings, idp.issuer)
    idp.set_accounts({"alice": ALICE, "bob": BOB})
    Team.objects.get_or_create(slug="payments", defaults={"name": "Payments"})
    Team.objects.get_or_create(slug="search", defaults={"name": "Search"})
    yield idp
    sso_provider.reset_cache()
    settings.OIDC_RP_CLIENT_SECRET = ""
    register_secrets()
    register_catalog_secrets()


@pytest.fixture
def forged(settings, db: None) -> Iterator[ForgedProvider]:
    """The test-only issuer (tests/support/oidc_provider.ForgedProvider) as the provider."""
    claims = {"sub": "dave-1", "preferred_username": "dave", "groups": ["payments-leads"]}
    with ForgedProvider(claims=claims) as provider:
        configure(settings, provider.issuer)
        yield provider
    sso_provider.reset_cache()
