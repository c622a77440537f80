"""Local passwords beside single sign-on: on for every account (``make run``, the default), for
the break-glass accounts only, or off; the sign-in form, the admin's and the API login alike."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import PASSWORD


@pytest.fixture
def people(db) -> tuple[User, User]:
    root = User.objects.create_user(username="root", password=PASSWORD, is_staff=True)
    dana = User.objects.create_user(username="dana", password=PASSWORD)
    return root, dana


def form_login(username: str) -> int:
    return Client().post("/login/", {"username": username, "password": PASSWORD}).status_code


def api_login(username: str) -> int:
    body = json.dumps({"username": username, "password": PASSWORD})
    return Client().post("/api/v1/auth/login", body, content_type="application/json").status_code


def test_every_account_may_use_its_password_by_default(people) -> None:
    assert form_login("root") == 302 and form_login("dana") == 302
    assert api_login("dana") == 200


def test_break_glass_leaves_passwords_to_the_named_accounts(settings, people) -> None:
    settings.PREFLIGHT_LOCAL_PASSWORDS = "breakglass"
    settings.PREFLIGHT_BREAKGLASS_USERS = ["root"]
    assert form_login("root") == 302
    assert form_login("dana") == 200  # the form again, with its error
    assert api_login("dana") == 401
    admin = Client().post("/admin/login/", {"username": "dana", "password": PASSWORD})
    assert admin.status_code == 200 and not admin.wsgi_request.user.is_authenticated


def test_passwords_switched_off_end_open_password_sessions_too(settings, people) -> None:
    client = Client()
    assert client.post("/login/", {"username": "dana", "password": PASSWORD}).status_code == 302
    assert client.get("/services/").status_code == 200
    settings.PREFLIGHT_LOCAL_PASSWORDS = "off"
    assert client.get("/services/").status_code == 302  # signed out: back to the sign-in page
    assert form_login("root") == 200 and api_login("root") == 401


def test_the_sign_in_page_offers_what_is_allowed(settings, people) -> None:
    settings.PREFLIGHT_OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_RP_CLIENT_ID = "preflight"
    settings.PREFLIGHT_OIDC_NAME = "Acme SSO"
    page = Client().get("/login/").content.decode()
    assert "Sign in with Acme SSO" in page and 'name="password"' in page
    settings.PREFLIGHT_LOCAL_PASSWORDS = "breakglass"
    page = Client().get("/login/").content.decode()
    assert "Administrator sign-in (break-glass)" in page and "<details" in page
    settings.PREFLIGHT_LOCAL_PASSWORDS = "off"
    page = Client().get("/login/").content.decode()
    assert "Sign in with Acme SSO" in page and 'name="password"' not in page
