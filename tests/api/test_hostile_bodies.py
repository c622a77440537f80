"""Inputs that made the API answer 500 (issue 13, item 7) now answer 400 in the error format,
over real HTTP to the live server: a lone surrogate in the login's username (django-axes could
not encode it), and 100,000-deep JSON arrays (json.loads raised RecursionError). The depth
guard is the API's JSON parser, so it holds for every operation that takes a body: the test
walks them from the generated OpenAPI document rather than from a list of its own."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from django.test import override_settings

from api.jsonbody import MAX_DEPTH
from api.models import Annotation

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def http(live_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def _error_format(response: httpx.Response, code: str) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert response.headers["X-Request-ID"]
    return body["error"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": "\\ud800", "password": "x"}',  # the JSON escape of a lone surrogate
        b'{"username": "lead\xed\xa0\x80", "password": "x"}',  # its UTF-8-style bytes
        b'{"username": "lead", "password": "\\udfff"}',
    ],
)
def test_a_lone_surrogate_in_the_login_is_a_400(http, lead, raw) -> None:
    with override_settings(AXES_ENABLED=True):  # django-axes is what could not encode it
        response = http.post(
            "/api/v1/auth/login", content=raw, headers={"Content-Type": "application/json"}
        )
    error = _error_format(response, "validation_error")
    assert error["details"][0]["field"] in ("username", "password")


def _write_token(api_token) -> dict[str, str]:
    secret = api_token("read", "facts:write", "runs:write", "annotations:write", name="all")
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


def test_deep_arrays_to_annotations_and_facts_are_400(http, api_token, service) -> None:
    headers = _write_token(api_token)
    for path in ("/api/v1/annotations", "/api/v1/services/orders/facts"):
        error = _error_format(http.post(path, content=DEEP, headers=headers), "invalid_json")
        assert error["details"] == {"max_depth": MAX_DEPTH}
    # Inside an otherwise valid body, and just past the limit (well within Python's own
    # recursion limit: the guard does not depend on RecursionError).
    nested = b'{"name": "x", "tags": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"
    _error_format(http.post("/api/v1/annotations", content=nested, headers=headers), "invalid_json")
    assert Annotation.objects.count() == 0


def _body_operations(document: dict) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]


def test_every_operation_with_a_body_refuses_deep_json(http, api_token, service) -> None:
    headers = _write_token(api_token)
    note = http.post("/api/v1/annotations", json={"name": "n"}, headers=headers).json()["id"]
    operations = _body_operations(http.get("/api/v1/openapi.json").json())
    assert len(operations) == 5, operations  # runs, facts, annotations (POST, PATCH), login
    for method, template in operations:
        path = template.replace("{slug}", "orders").replace("{annotation_id}", str(note))
        response = http.request(method, path, content=DEEP, headers=headers)
        _error_format(response, "invalid_json")
    assert Annotation.objects.count() == 1


def _cursor(depth: int) -> str:
    return base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).decode().rstrip("=")


def test_forged_deep_cursors_are_400(http, api_token) -> None:
    headers = _write_token(api_token)
    # The cursor is JSON inside base64: it goes through the same guard.
    response = http.get("/api/v1/annotations", params={"cursor": _cursor(190)}, headers=headers)
    _error_format(response, "invalid_cursor")
    response = http.get("/api/v1/annotations", params={"cursor": _cursor(3000)}, headers=headers)
    _error_format(response, "validation_error")  # longer than any cursor the API issues
