"""The MongoDB URI is a write-only secret of the stored profile: encrypted, never rendered."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from checks.engine import ProfileError
from checks.models import StagingProfile
from checks.services import profiles
from tests.conftest import PASSWORD

TOML = (
    '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:9"\n'
    '[mongo]\ndatabase = "shop"\nttl_collections = ["sessions"]\n'
)
URI = "mongodb://reader:Zq8-mongo-pw@127.0.0.1:27017/shop"


def test_the_uri_is_stored_encrypted_and_never_rendered_back(service, lead) -> None:
    client = Client()
    client.login(username="lead", password=PASSWORD)
    url = reverse("checks:profile", args=["orders"])
    response = client.post(url, {"toml": TOML, "mongo_uri": URI, "schedule_cron": "0 2 * * *"})
    assert response.status_code == 302
    stored = StagingProfile.objects.get(service=service)
    assert "Zq8-mongo-pw" not in str(stored.secrets) and "mongo_uri" in stored.secrets
    assert profiles.engine_profile(stored).mongo.uri == URI
    html = client.get(url).content.decode()
    assert "<code>mongo_uri</code>" in html and 'name="mongo_uri"' in html
    assert "Zq8-mongo-pw" not in html and "reader" not in html
    # A failed save re-renders the form: the URI typed in must not come back either.
    response = client.post(
        url, {"toml": "[service\n", "mongo_uri": URI, "schedule_cron": "0 2 * * *"}
    )
    assert response.status_code == 400 and "Zq8-mongo-pw" not in response.content.decode()


@pytest.mark.parametrize(
    ("toml", "secret", "field"),
    [
        (TOML + 'uri = "mongodb://db/x"\n', "", "mongo.uri"),
        (TOML, "postgres://u:Zq8-mongo-pw@db/x", "mongo_uri"),
        (
            TOML,
            "mongodb://u:Zq8-mongo-pw@db/x?authMechanism=MONGODB-OIDC"
            "&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:api://x",
            "mongo_uri",
        ),
        (TOML, "mongodb://u:Zq8-mongo-pw@db/x?tls=true&tlsCAFile=/etc/shadow", "mongo_uri"),
    ],
)
def test_a_uri_in_the_toml_or_a_malformed_one_is_refused(service, toml, secret, field) -> None:
    with pytest.raises(ProfileError) as info:
        profiles.profile_save(
            service=service, toml=toml, new_secrets={"mongo_uri": secret}, clear=[], actor=None
        )
    assert info.value.field == field and "Zq8-mongo-pw" not in str(info.value)
    if "?" in secret:  # refused by the option allowlist, naming the option
        assert "URI option authMechanism=MONGODB-OIDC is refused" in str(
            info.value
        ) or "URI option tlsCAFile is refused" in str(info.value)
    assert not StagingProfile.objects.exists()
