"""ID-token faults a certified provider never produces, each refused.

What is real: Preflight's whole sign-in path (the start page, the session's state, nonce and
PKCE verifier, the callback, the token request with client authentication, the ID-token
validation against the JWKS, userinfo, django-axes), over real HTTP on loopback, through the
guarded client. What is forged: the ID token the test-only issuer (tests/support/
oidc_provider.ForgedProvider) returns from its token endpoint, made wrong in one way each time.
The honest case passes first, so each refusal is the fault's doing."""

from __future__ import annotations

import time
from typing import Any

from axes.models import AccessAttempt, AccessLog
from django.contrib.auth.models import User
from django.test import Client

from sso.backends import SSO_ATTEMPT_NAME
from tests.support.oidc_provider import CLIENT_SECRET, TESTSERVER, new_key
from tests.support.oidc_provider import sign_in as play_sign_in


def sign_in(client: Client) -> Any:
    return play_sign_in(client, "dave").response


def refused(response: Any) -> str:
    assert response.status_code == 403, (response.status_code, response.content[:300])
    assert not User.objects.filter(username="dave").exists()
    return response.context["reason"]


def test_the_honest_token_signs_in(forged) -> None:
    assert sign_in(Client()).status_code == 302
    assert User.objects.filter(username="dave").exists()


def test_a_token_signed_with_another_key_under_the_providers_key_id_is_refused(forged) -> None:
    impostor = new_key("forge-1")  # same kid as the published key, another private key
    forged.forge = lambda c: (c, impostor.private, "RS256", {"kid": "forge-1"})
    assert "signature does not verify" in refused(sign_in(Client()))


def test_a_token_for_another_client_is_refused(forged) -> None:
    forged.forge = lambda c: forged.honest({**c, "aud": "another-client"})
    assert "another client (aud)" in refused(sign_in(Client()))


def test_a_token_for_several_audiences_without_us_as_authorised_party_is_refused(forged) -> None:
    forged.forge = lambda c: forged.honest({**c, "aud": ["preflight", "another"], "azp": "another"})
    assert "azp" in refused(sign_in(Client()))


def test_an_expired_token_is_refused(forged) -> None:
    now = int(time.time())
    forged.forge = lambda c: forged.honest({**c, "iat": now - 7200, "exp": now - 3600})
    assert "expired" in refused(sign_in(Client()))


def test_a_token_from_the_future_is_refused(forged) -> None:
    now = int(time.time())
    forged.forge = lambda c: forged.honest({**c, "iat": now + 3600, "exp": now + 7200})
    assert "not valid yet" in refused(sign_in(Client()))


def test_a_token_from_another_issuer_is_refused(forged) -> None:
    forged.forge = lambda c: forged.honest({**c, "iss": "http://127.0.0.1:1"})
    assert "issued by someone else" in refused(sign_in(Client()))


def test_a_token_without_this_sign_ins_nonce_is_refused(forged) -> None:
    forged.forge = lambda c: forged.honest({k: v for k, v in c.items() if k != "nonce"})
    assert "nonce" in refused(sign_in(Client()))


def test_an_unsigned_token_is_refused(forged) -> None:
    forged.forge = lambda c: (c, None, "none", {})
    assert "algorithm 'none' is not accepted" in refused(sign_in(Client()))


def test_a_token_signed_with_the_client_secret_is_refused(forged) -> None:
    """The algorithm-confusion attack: HS256 keyed with something the client knows."""
    forged.forge = lambda c: (c, CLIENT_SECRET.encode(), "HS256", {"kid": "forge-1"})
    assert "algorithm 'HS256' is not accepted" in refused(sign_in(Client()))


def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_refused(forged) -> None:
    stranger = new_key("stranger")
    forged.forge = lambda c: (c, stranger.private, "RS256", {"kid": "stranger"})
    assert "does not publish" in refused(sign_in(Client()))


def test_failed_sign_ins_are_throttled_per_address_like_passwords(settings, forged) -> None:
    """django-axes (on for this test): each refusal is recorded under the single sign-on
    name and the address; the failure that reaches the limit locks the address out of
    sign-in through the provider (429, as for passwords), the honest token included."""
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    forged.forge = lambda c: forged.honest({**c, "aud": "another-client"})
    assert [sign_in(Client()).status_code for _ in range(3)] == [403, 403, 429]
    attempt = AccessAttempt.objects.get(username=SSO_ATTEMPT_NAME)
    assert attempt.failures_since_start == 3
    forged.forge = None
    assert sign_in(Client()).status_code == 429
    assert not User.objects.filter(username="dave").exists()
    # A password sign-in from the same address is throttled apart (another name).
    User.objects.create_user(username="erin", password="erin-pw-123456")
    assert (
        Client().post("/login/", {"username": "erin", "password": "erin-pw-123456"}).status_code
        == 302
    )


def test_a_successful_sign_in_is_logged_by_axes_and_clears_the_address(settings, forged) -> None:
    settings.AXES_ENABLED = True
    Client().get("/sso/callback/?code=x&state=nothing")  # one failure
    assert AccessAttempt.objects.filter(username=SSO_ATTEMPT_NAME).count() == 1
    assert sign_in(Client()).status_code == 302
    assert AccessLog.objects.filter(username="dave").count() == 1
    assert not AccessAttempt.objects.filter(username=SSO_ATTEMPT_NAME).exists()


def test_the_callback_answers_only_for_a_configured_provider(settings, db) -> None:
    settings.PREFLIGHT_OIDC_ISSUER = ""
    assert Client().get(f"{TESTSERVER}/sso/callback/?code=x&state=y").status_code == 404
