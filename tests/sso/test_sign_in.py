"""Sign-in through a real, certified OpenID Provider (oidc-provider on nodejs, on loopback):
the code flow with PKCE and a nonce, discovery, ID-token validation against the provider's
JWKS, userinfo, the groups claim mapped onto teams and the reviewers group at every sign-in,
replays refused, key rotation, RP-initiated logout. Every token here is the provider's own."""

from __future__ import annotations

import httpx
import jwt
import pytest
from django.contrib.auth.models import User
from django.test import Client

from portal.models import AuditEvent, Membership, Team
from portal.permissions import is_reviewer
from sso import provider as sso_provider
from sso.models import Identity
from tests.catalog.conftest import closed_port
from tests.sso.conftest import ALICE, configure
from tests.support.oidc_provider import (
    TESTSERVER,
    OpenIDProvider,
    new_key,
    running,
    sign_in,
    with_param,
)


def teams_of(username: str) -> set[tuple[str, str]]:
    return {(m.team.slug, m.role) for m in Membership.objects.filter(user__username=username)}


def refusal(response) -> str:
    assert response.status_code in (403, 429, 503), (response.status_code, response.content[:300])
    return response.context["reason"]


def test_a_person_signs_in_and_lands_in_the_mapped_team_with_the_mapped_role(sso) -> None:
    client = Client()
    done = sign_in(client, "alice")
    assert done.response.status_code == 302, done.response.content[:500]
    assert done.response["Location"] == "/"
    user = User.objects.get(username="alice")
    assert Identity.objects.get(user=user).issuer == sso.issuer
    assert user.email == "alice@example.com" and user.first_name == "Alice"
    assert not user.has_usable_password()
    assert teams_of("alice") == {("payments", "lead")}
    assert is_reviewer(user)
    assert client.get("/")["Location"] == "/dashboards/teams/payments/"  # the team's dashboard
    assert client.get("/services/").status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_CHANGED)
    assert event.actor == user
    assert event.payload["added"] == ["payments:lead"] and event.payload["reviewer"] == "granted"
    # The ID token the provider issued is kept for logout, and it is signed as discovered.
    header = jwt.get_unverified_header(client.session["oidc_id_token"])
    assert header["kid"] == sso.keys[0].kid


def test_groups_are_applied_again_at_every_sign_in(sso) -> None:
    sign_in(Client(), "alice")
    search = Team.objects.get(slug="search")
    other = Team.objects.create(name="Unmapped", slug="unmapped")
    alice = User.objects.get(username="alice")
    Membership.objects.create(user=alice, team=other)  # made by hand: not the mapping's to manage

    sso.set_accounts({"alice": {**ALICE, "groups": ["payments-devs", "search-devs"]}})
    assert sign_in(Client(), "alice").response.status_code == 302
    assert teams_of("alice") == {("payments", "member"), ("search", "member"), ("unmapped", "lead")}
    assert not is_reviewer(alice)

    sso.set_accounts({"alice": {**ALICE, "groups": []}})
    assert sign_in(Client(), "alice").response.status_code == 302
    assert teams_of("alice") == {("unmapped", "lead")}
    changes = [
        e.payload
        for e in AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_CHANGED).order_by("id")
    ]
    assert changes[1] == {
        "source": "single sign-on",
        "added": ["search:member"],
        "role_changed": ["payments:lead->member"],
        "reviewer": "revoked",
    }
    assert changes[2]["removed"] == ["payments:member", "search:member"]
    assert search.memberships.count() == 0
    # Nothing changed: no event.
    sign_in(Client(), "alice")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_CHANGED).count() == 3


def test_a_replayed_answer_is_refused(sso) -> None:
    client = Client()
    done = sign_in(client, "alice")
    assert done.response.status_code == 302
    path = done.callback_url.removeprefix(TESTSERVER)
    again = client.get(path)  # the same code and state, the same browser
    assert "unknown state" in refusal(again)
    elsewhere = Client().get(path)  # another browser
    assert "unknown state" in refusal(elsewhere)


def test_an_id_token_with_a_nonce_from_an_earlier_sign_in_is_refused(sso) -> None:
    """The provider is made to put an earlier sign-in's nonce into a new token (the nonce of
    the authorization request is swapped on the way): a replayed nonce."""
    client = Client()
    first = sign_in(client, "alice")
    assert first.response.status_code == 302
    replay = sign_in(Client(), "alice", tamper=lambda url: with_param(url, "nonce", first.nonce))
    assert "nonce" in refusal(replay.response)
    assert Identity.objects.count() == 1


def test_the_code_is_worth_nothing_without_this_sign_ins_pkce_verifier(sso) -> None:
    """The challenge is swapped on the way to the provider: the verifier Preflight holds no
    longer matches, and the provider refuses the code."""
    other = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    done = sign_in(Client(), "bob", tamper=lambda url: with_param(url, "code_challenge", other))
    assert "token endpoint answered 400 (invalid_grant)" in refusal(done.response)
    assert not User.objects.filter(username="bob").exists()


def test_the_provider_saying_no_is_a_refused_sign_in(sso) -> None:
    client = Client()
    started = client.get("/sso/start/")
    state = started["Location"].split("state=")[1].split("&")[0]
    answer = client.get(f"/sso/callback/?error=access_denied&state={state}")
    assert refusal(answer) == "the provider answered 'access_denied'"


def test_an_answer_naming_another_issuer_is_refused(sso) -> None:
    client = Client()
    started = client.get("/sso/start/")
    state = started["Location"].split("state=")[1].split("&")[0]
    answer = client.get(f"/sso/callback/?code=x&state={state}&iss=http://127.0.0.1:1")
    assert "another provider" in refusal(answer)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("preflight-system", "reserved"),
        ("Preflight_System", "reserved"),
        ("pref1ight-systern", "reserved"),
        ("ali ce", "characters"),
    ],
)
def test_names_an_account_cannot_have_are_refused(sso, name: str, reason: str) -> None:
    sso.set_accounts({"mallory": {"preferred_username": name, "groups": ["payments-leads"]}})
    done = sign_in(Client(), "mallory")
    assert reason in refusal(done.response)
    assert not Identity.objects.exists()
    assert not Membership.objects.exists()


def test_a_local_account_of_the_same_name_is_not_taken_over(sso) -> None:
    local = User.objects.create_user(username="alice", password="local-pw-123456")
    done = sign_in(Client(), "alice")
    assert "not linked to this provider identity" in refusal(done.response)
    assert not Membership.objects.filter(user=local).exists()
    # Linked by an admin, the same sign-in goes through.
    Identity.objects.create(user=local, issuer=sso.issuer, subject="alice")
    assert sign_in(Client(), "alice").response.status_code == 302
    assert teams_of("alice") == {("payments", "lead")}


def test_a_deactivated_account_cannot_sign_in(sso) -> None:
    sign_in(Client(), "alice")
    User.objects.filter(username="alice").update(is_active=False)
    assert "deactivated" in refusal(sign_in(Client(), "alice").response)


def test_sign_out_ends_the_session_at_the_provider_too(sso) -> None:
    client = Client()
    sign_in(client, "alice")
    id_token = client.session["oidc_id_token"]
    out = client.post("/logout/")
    assert out.status_code == 302
    target = out["Location"]
    assert target.startswith(f"{sso.issuer}/session/end?")
    assert f"id_token_hint={id_token}" in target
    assert "post_logout_redirect_uri=http%3A%2F%2Ftestserver%2Flogin%2F" in target
    assert "_auth_user_id" not in client.session
    # The provider accepts the request: it answers its sign-out confirmation page.
    page = httpx.get(target, timeout=10)
    assert page.status_code == 200, page.text[:1000]
    assert "logout" in page.text.lower()


def test_a_password_session_signs_out_here_only(sso) -> None:
    client = Client()
    local = User.objects.create_user(username="carol", password="local-pw-123456")
    client.force_login(local, backend="sso.backends.LocalPasswordBackend")
    out = client.post("/logout/")
    assert out["Location"] == "/login/"


def test_an_unreachable_provider_is_said_plainly(settings, db) -> None:
    configure(settings, f"http://127.0.0.1:{closed_port()}")
    answer = Client().get("/sso/start/")
    assert answer.status_code == 503
    assert "discovery: ConnectError" in answer.context["reason"]


def test_sign_in_is_off_without_an_issuer(settings, db) -> None:
    settings.PREFLIGHT_OIDC_ISSUER = ""
    assert Client().get("/sso/start/").status_code == 404
    page = Client().get("/login/")
    assert b"sso-sign-in" not in page.content and b'name="password"' in page.content


def test_the_provider_rotates_its_keys(tmp_path, settings, db) -> None:
    """The provider signs with a new key while still publishing the old one, then retires the
    old one. Sign-in keeps working throughout (an unknown key id makes Preflight fetch the
    keys again); a token signed with the retired key is refused once the key is gone from
    the provider's JWKS. The keys are refetched at once for this test (no minimum interval,
    and no cache lifetime at the end: that is the clock running out, without the wait)."""
    settings.PREFLIGHT_OIDC_JWKS_MIN_REFRESH_S = 0
    old, new = new_key("key-old"), new_key("key-new")
    idp = OpenIDProvider(
        tmp_path,
        redirect_uris=[f"{TESTSERVER}/sso/callback/"],
        keys=[old],
        accounts={"alice": ALICE},
    )
    Team.objects.create(name="Payments", slug="payments")
    with running(idp):
        configure(settings, idp.issuer)
        first_client = Client()
        first = sign_in(first_client, "alice")
        assert first.response.status_code == 302
        old_token = first_client.session["oidc_id_token"]
        assert jwt.get_unverified_header(old_token)["kid"] == "key-old"

        idp.rotate([new, old])
        second_client = Client()
        assert sign_in(second_client, "alice").response.status_code == 302
        assert jwt.get_unverified_header(second_client.session["oidc_id_token"])["kid"] == "key-new"
        # While both are published, a token signed with the old key still validates.
        assert sso_provider.validate_id_token(old_token, nonce=first.nonce)["sub"] == "alice"

        idp.rotate([new])
        assert sign_in(Client(), "alice").response.status_code == 302
        settings.PREFLIGHT_OIDC_JWKS_TTL_S = 0
        with pytest.raises(sso_provider.ProviderError, match="does not publish"):
            sso_provider.validate_id_token(old_token, nonce=first.nonce)
    sso_provider.reset_cache()
