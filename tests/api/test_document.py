"""The OpenAPI document is django-ninja's, generated from the operations and their pydantic
schemas: it lists exactly the routes the API serves, and every operation but the login and
the probes names its scope and refuses a call without credentials. Plus the HTTP rules that
wrap django-ninja: the error format for its own refusals (validation, unparsable JSON, 405),
HEAD as GET, no caching."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver

from api.v1 import OPENAPI_URL

pytestmark = pytest.mark.django_db

PUBLIC = {
    ("post", "/api/v1/auth/login"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
}


def _document(client: Client) -> dict:
    response = client.get(OPENAPI_URL)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    return response.json()


def _served_paths() -> set[str]:
    """Path templates of every route django-ninja serves, read from the URLconf."""
    paths = set()
    for pattern in get_resolver().url_patterns:
        for inner in getattr(pattern, "url_patterns", [pattern]):
            if isinstance(inner, URLPattern) and getattr(inner.callback, "api_route", False):
                route = str(inner.pattern)
                if route != "api/v1/openapi.json":
                    paths.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return paths


SAMPLES = {"slug": "orders", "run_id": "1", "fact_id": "1", "annotation_id": "1", "file_id": "1"}


def _sample(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: SAMPLES[m.group(1)], path)


def test_the_document_lists_exactly_the_served_operations(client) -> None:
    doc = _document(client)
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == _served_paths()
    for path, item in doc["paths"].items():
        # A method no route offers answers 405 with the methods it does offer.
        allow = client.generic("TRACE", _sample(path))["Allow"].split(", ")
        assert set(allow) - {"HEAD"} == {m.upper() for m in item}, path
    assert sum(len(item) for item in doc["paths"].values()) == 20


def test_every_operation_but_the_public_ones_needs_a_scoped_token(client, service) -> None:
    doc = _document(client)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if (method, path) in PUBLIC:
                assert "security" not in operation
                continue
            scopes = {scope for req in operation["security"] for scope in next(iter(req.values()))}
            assert len(scopes) == 1 and f"`{scopes.pop()}`" in operation["description"]
            response = client.generic(
                method.upper(), _sample(path), "{}", content_type="application/json"
            )
            assert response.status_code == 401, (method, path, response.content)
            assert response.json()["error"]["code"] == "unauthenticated"


def _bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_django_ninjas_own_refusals_answer_in_the_error_format(client, api_token) -> None:
    auth = _bearer(api_token("read", "annotations:write"))
    bad = client.get("/api/v1/annotations?limit=abc", **auth)
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "validation_error" and error["details"][0]["field"] == "limit"
    broken = client.post("/api/v1/annotations", "{", content_type="application/json", **auth)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    null = client.patch(
        "/api/v1/annotations/1", json.dumps({"name": None}), content_type="application/json", **auth
    )
    assert null.status_code == 400 and null.json()["error"]["details"][0]["field"] == "name"
    wrong = client.put("/api/v1/annotations", **auth)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong["Allow"] == "GET, HEAD, POST"


def test_head_is_answered_as_get_and_nothing_is_cached(client, api_token) -> None:
    auth = _bearer(api_token("read"))
    head = client.head("/api/v1/services", **auth)
    assert head.status_code == 200 and head.content == b""
    assert client.get("/api/v1/services", **auth)["Cache-Control"] == "no-store"
    assert client.get(OPENAPI_URL)["Cache-Control"] == "no-store"


def test_the_probes_are_served_and_documented(client) -> None:
    doc = _document(client)
    assert client.get("/health").json() == {"status": "ok"}
    assert doc["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert client.post("/health").status_code == 405
