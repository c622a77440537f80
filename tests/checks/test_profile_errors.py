"""The profile form and the login page under bad input and failures: thousands of nested TOML
levels are a 400 naming the problem, and with DEBUG on Django's technical 500 page shows none
of the submitted secrets (not the fields, not a local variable of any frame)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from checks.models import StagingProfile
from checks.services import profiles
from portal.models import AuditEvent
from tests.conftest import PASSWORD

BASE = '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:9"\n[auth]\nusername = "p"\n'
DEPTH = 3000
DEEP = {
    "arrays": BASE + "[limits]\nx = " + "[" * DEPTH + "]" * DEPTH + "\n",
    "inline tables": BASE + "[limits]\nx = " + "{a = " * DEPTH + "1" + "}" * DEPTH + "\n",
    "dotted keys": BASE + "[limits]\n" + ".".join(["k"] * DEPTH) + " = 1\n",
    "table headers": BASE + "[" + ".".join(["k"] * DEPTH) + "]\n",
}
# Every secret field needs its section (hooks use the token in a header).
FULL = (
    BASE
    + '[repo]\nurl = "https://git.example.com/payments/orders.git"\n'
    + '[mongo]\ndatabase = "orders"\n'
)
SECRETS = {
    "password": "canary-pw-7Hq2",
    "otp_secret": "JBSWY3DPEHPK3PXPCANARY",
    "repo_token": "canary-repo-token-91x",
    "mongo_uri": "mongodb://probe:canary-mongo-pw@127.0.0.1:27017/?authSource=admin",
    "hooks_token": "canary-hooks-token-55z",
}
CANARIES = ["canary-pw-7Hq2", "CANARY", "canary-repo-token", "canary-mongo-pw", "canary-hooks"]


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize("shape", list(DEEP))
def test_deeply_nested_toml_is_a_400_naming_the_problem(service, lead, shape) -> None:
    response = _client(lead).post(
        reverse("checks:profile", args=[service.slug]),
        {"toml": DEEP[shape], "schedule_cron": "0 2 * * *", **SECRETS},
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.content.decode()
    assert not StagingProfile.objects.exists()
    assert not AuditEvent.objects.filter(action="profile_changed").exists()


def _technical_500(response) -> str:
    assert response.status_code == 500
    page = response.content.decode()
    assert "Traceback" in page and "RuntimeError" in page, "not Django's technical 500 page"
    return page


def test_the_debug_page_never_echoes_the_profile_secrets(
    service, lead, settings, monkeypatch
) -> None:
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["testserver"]

    # No bug of ours fails here on purpose: a fault is injected after the secrets have gone
    # through the form, the view and the service (the schedule is written last).
    def fail(profile):
        raise RuntimeError("schedule store unavailable")

    monkeypatch.setattr(profiles, "schedule_sync", fail)
    response = _client(lead).post(
        reverse("checks:profile", args=[service.slug]),
        {"toml": FULL, "schedule_cron": "0 2 * * *", **SECRETS},
        HTTP_ACCEPT="text/html",
    )
    page = _technical_500(response)
    assert "schedule store unavailable" in page
    for canary in CANARIES:
        assert canary not in page, f"{canary} is on the DEBUG page"
    assert "********************" in page  # the fields and the locals, blanked
    assert "mongo_uri" in page  # the field is listed, its value is not


class ExplodingBackend:
    """An authentication backend that fails (a directory outage, say): the fault injected to
    reach the technical 500 page from inside the login, where the password is a local."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        raise RuntimeError(f"directory unavailable for {username}")

    def get_user(self, user_id):
        return None


def test_the_debug_page_never_echoes_the_login_password(lead, settings) -> None:
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.ExplodingBackend"]
    for accept in ("text/html", "text/plain"):
        response = Client(raise_request_exception=False).post(
            reverse("login"),
            {"username": "lead", "password": PASSWORD},
            HTTP_ACCEPT=accept,
        )
        page = _technical_500(response)
        assert PASSWORD not in page
        assert "********************" in page
