"""A person signs in through the real OpenID Provider (oidc-provider on nodejs, loopback) in
Chromium: Preflight's sign-in page, the provider's own login and consent pages, back to
Preflight, in the team their provider groups map to, with the mapped role; then signs out at
the provider too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User

from portal.models import Membership
from portal.permissions import is_reviewer
from sso import provider as sso_provider
from tests.sso.conftest import ALICE, configure
from tests.support.oidc_provider import OpenIDProvider, running

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def idp(live_server, tmp_path) -> Iterator[OpenIDProvider]:
    provider = OpenIDProvider(
        tmp_path,
        redirect_uris=[f"{live_server.url}/sso/callback/"],
        post_logout_redirect_uris=[f"{live_server.url}/login/"],
        accounts={"alice": ALICE},
    )
    with running(provider):
        yield provider
    sso_provider.reset_cache()


def test_a_person_signs_in_through_the_provider_and_lands_in_their_team(
    page, live_server, idp, settings, service, team
) -> None:
    configure(settings, idp.issuer)
    settings.PREFLIGHT_OIDC_NAME = "Acme SSO"
    page.goto(f"{live_server.url}/services/orders/")
    page.wait_for_url(f"{live_server.url}/login/?next=/services/orders/")
    page.click("#sso-sign-in")
    # The provider's own pages (oidc-provider's development interactions).
    page.wait_for_url(f"{idp.issuer}/interaction/**")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "whatever-the-provider-checks")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Authorize")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/services/orders/")

    assert page.locator(".who").inner_text() == "alice"
    alice = User.objects.get(username="alice")
    assert {(m.team.slug, m.role) for m in Membership.objects.filter(user=alice)} == {
        ("payments", "lead")
    }
    assert is_reviewer(alice)
    # A lead of the owning team: the checklist is editable (no read-only notice).
    assert page.locator("text=Read only").count() == 0
    assert page.locator("li.item button[value=done]").first.is_enabled()

    page.click(".logout button[type=submit]")
    page.wait_for_url(f"{idp.issuer}/session/end**")
    assert "logout" in page.content().lower()
