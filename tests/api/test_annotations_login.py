"""Annotations (deploy markers) and the JSON login: CRUD with scopes, keyset pages, the
Idempotency-Key, personal tokens that expire, and login throttling by django-axes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from api.models import Annotation, ApiToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
NOTES = "/api/v1/annotations"


def _bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _post(client: Client, url: str, body: object, **extra: str):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body


def _login(client: Client, username: str = "lead", password: str = PASSWORD, **more: str):
    return _post(client, LOGIN, {"username": username, "password": password, **more})


def test_annotations_crud_with_scopes(client, api_token) -> None:
    writer = _bearer(api_token("annotations:write", "read"))
    created = _post(client, NOTES, {"name": "deployed v1.2", "tags": ["orders"]}, **writer)
    assert created.status_code == 201, created.content
    note = created.json()
    assert set(note) == {"id", "name", "tags", "created_by", "created_at", "updated_at"}
    assert note["tags"] == ["orders"] and note["created_by"] == "ci-annotations_write-read"
    url = f"{NOTES}/{note['id']}"
    assert client.get(url, **writer).json() == note
    patched = client.patch(
        url, json.dumps({"name": "deployed v1.3"}), content_type="application/json", **writer
    )
    assert patched.status_code == 200 and patched.json()["name"] == "deployed v1.3"
    assert patched.json()["tags"] == ["orders"]
    assert patched.json()["updated_at"] >= note["updated_at"]
    deleted = client.delete(url, **writer)
    assert deleted.status_code == 204 and deleted.content == b""
    _error(client.get(url, **writer), 404, "not_found")
    _error(client.delete(url, **writer), 404, "not_found")
    reader = _bearer(api_token("read"))
    _error(_post(client, NOTES, {"name": "x"}, **reader), 403, "insufficient_scope")
    _error(client.get(NOTES), 401, "unauthenticated")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name"}),
        ({"name": " ", "tags": ["ok", ""]}, {"name", "tags[1]"}),
        ({"name": "x" * 201, "tags": "orders", "extra": 1}, {"name", "tags", "extra"}),
        ({"name": "nul\x00", "tags": ["a" * 101]}, {"name", "tags[0]"}),
        ([], {""}),
    ],
)
def test_invalid_annotations_are_400_naming_each_field(client, api_token, body, fields) -> None:
    response = _post(client, NOTES, body, **_bearer(api_token("annotations:write")))
    details = _error(response, 400, "validation_error")["error"]["details"]
    assert {d["field"] for d in details} == fields
    assert Annotation.objects.count() == 0


def test_annotations_are_listed_by_keyset_across_shared_timestamps(client, api_token) -> None:
    auth = _bearer(api_token("annotations:write", "read"))
    ids = [_post(client, NOTES, {"name": f"n{i}"}, **auth).json()["id"] for i in range(7)]
    # Several share one created_at: the id breaks the tie, and nothing repeats or goes missing.
    same = timezone.now() - timedelta(minutes=1)
    Annotation.objects.filter(pk__in=ids[1:5]).update(created_at=same)
    seen, cursor, pages = [], None, 0
    while True:
        url = f"{NOTES}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, **auth).json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        if pages == 2:  # an item deleted mid-walk shifts nothing for a keyset cursor
            client.delete(f"{NOTES}/{ids[5]}", **auth)
    assert seen == [*ids[1:5], ids[0], ids[6]] and pages == 3
    _error(client.get(f"{NOTES}?cursor=nope", **auth), 400, "invalid_cursor")
    _error(client.get(f"{NOTES}?limit=101", **auth), 400, "validation_error")


def test_the_idempotency_key_replays_and_refuses_another_body(client, api_token) -> None:
    auth = {**_bearer(api_token("annotations:write")), "HTTP_IDEMPOTENCY_KEY": "deploy-42"}
    first = _post(client, NOTES, {"name": "deployed v2", "tags": ["orders"]}, **auth)
    again = _post(client, NOTES, {"name": "deployed v2", "tags": ["orders"]}, **auth)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    _error(_post(client, NOTES, {"name": "deployed v3"}, **auth), 409, "idempotency_conflict")
    assert Annotation.objects.count() == 1


def test_login_issues_a_short_lived_personal_token(client, lead) -> None:
    response = _login(client)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["scope"] == "annotations:write read"
    token = ApiToken.objects.get(user=lead)
    assert body["access_token"] not in token.token_hash and len(token.token_hash) == 64
    assert token.expires_at is not None
    assert timedelta(minutes=14) < token.expires_at - timezone.now() <= timedelta(minutes=15)
    auth = _bearer(body["access_token"])
    note = _post(client, NOTES, {"name": "hotfix", "tags": ["orders"]}, **auth).json()
    assert note["created_by"] == "lead"
    assert client.get("/api/v1/services", **auth).status_code == 200
    # Expiry and deactivation are enforced on use.
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    _error(client.get(NOTES, **auth), 401, "invalid_token")
    fresh = _bearer(_login(client).json()["access_token"])
    assert not ApiToken.objects.filter(pk=token.pk).exists()  # the expired one is dropped
    User.objects.filter(pk=lead.pk).update(is_active=False)
    _error(client.get(NOTES, **fresh), 401, "invalid_token")


def test_login_scopes_are_a_subset_of_what_a_user_may_hold(client, lead) -> None:
    read_only = _login(client, scope="read").json()
    assert read_only["scope"] == "read"
    refused = _post(client, NOTES, {"name": "x"}, **_bearer(read_only["access_token"]))
    _error(refused, 403, "insufficient_scope")
    body = _error(_login(client, scope="read runs:write"), 400, "validation_error")
    assert body["error"]["details"][0]["field"] == "scope"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": 42, "password": "x"}, {"username"}),
        ({"username": "lead"}, {"password"}),
        ({"username": "lead", "password": "x", "admin": True}, {"admin"}),
        ("lead", None),
    ],
)
def test_malformed_logins_are_400(client, lead, body, fields) -> None:
    details = _error(_post(client, LOGIN, body), 400, "validation_error")["error"]["details"]
    if fields is not None:
        assert {d["field"] for d in details} == fields
    _error(client.post(LOGIN, "{", content_type="application/json"), 400, "invalid_json")
    _error(client.get(LOGIN), 405, "method_not_allowed")


def test_bad_credentials_are_401(client, lead) -> None:
    _error(_login(client, password="wrong"), 401, "invalid_credentials")
    _error(_login(client, username="nobody"), 401, "invalid_credentials")
    User.objects.filter(pk=lead.pk).update(is_active=False)
    _error(_login(client), 401, "invalid_credentials")


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_repeated_failed_logins_get_429_with_retry_after(client, lead) -> None:
    for _ in range(2):
        _error(_login(client, password="wrong"), 401, "invalid_credentials")
    # The third failure reaches the limit: locked, then even the right password is refused.
    for password in ("wrong", PASSWORD):
        locked = _login(client, password=password)
        body = _error(locked, 429, "too_many_attempts")
        assert locked["Retry-After"] == "900" and body["error"]["details"]["retry_after_s"] == 900
        assert locked["X-Request-ID"] and locked["Content-Security-Policy"]
    # Per (username, address): another user from the same address is not locked.
    assert _login(Client(), username="reviewer").status_code == 401


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_a_success_resets_the_failures(client, lead) -> None:
    for _ in range(2):
        _error(_login(client, password="wrong"), 401, "invalid_credentials")
    assert _login(client).status_code == 200
    for _ in range(2):
        _error(_login(client, password="wrong"), 401, "invalid_credentials")


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=2)
def test_the_sign_in_page_lockout_carries_retry_after_too(lead) -> None:
    client = Client()
    client.post("/login/", {"username": "lead", "password": "wrong"})
    locked = client.post("/login/", {"username": "lead", "password": "wrong"})
    assert locked.status_code == 429 and locked["Retry-After"] == "900"
    assert "Account locked" in locked.content.decode()
