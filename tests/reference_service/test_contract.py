"""The rules every response follows, checked over real HTTP against a healthy instance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.refservice import RunningReferenceService

ERROR_KEYS = {"code", "message", "details"}


def assert_error_format(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def client(reference_service: RunningReferenceService) -> Iterator[httpx.Client]:
    with reference_service.client() as client:
        yield client


def test_operational_endpoints_answer(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ping-db").status_code == 200
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"db": "ok", "cache": "ok"}
    version = client.get("/version")
    assert version.json() == {"version": "1.0.0"}
    assert version.headers["X-App-Version"] == "1.0.0"


def test_every_response_carries_security_headers_but_no_hsts_over_plain_http(
    client: httpx.Client,
) -> None:
    for response in (client.get("/health"), client.get("/nope"), client.post("/auth/login")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-App-Version"] == "1.0.0"
        assert "Strict-Transport-Security" not in response.headers


def test_request_id_is_generated_and_echoed(client: httpx.Client) -> None:
    first, second = client.get("/health"), client.get("/health")
    assert (
        first.headers["X-Request-ID"]
        and first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    )
    echoed = client.get("/nope", headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["X-Request-ID"] == "trace-abc.123"
    # Something that cannot be a request id is replaced, not reflected.
    odd = client.get("/health", headers={"X-Request-ID": "x" * 500})
    assert odd.headers["X-Request-ID"] != "x" * 500


def test_errors_use_the_error_format_for_every_status(
    client: httpx.Client, reference_service: RunningReferenceService
) -> None:
    assert assert_error_format(client.get("/no/such/route"), 404)["code"] == "not_found"
    assert assert_error_format(client.get("/items"), 401)["code"] == "missing_token"
    not_allowed = client.delete("/health")
    assert assert_error_format(not_allowed, 405)["code"] == "method_not_allowed"
    assert not_allowed.headers["Allow"] == "GET"
    invalid = client.post("/auth/login", json={"username": ""})
    error = assert_error_format(invalid, 422)
    assert error["code"] == "validation_error" and isinstance(error["details"], list)
    read_only = reference_service.auth_headers(scope="items:read")
    forbidden = client.post("/items", json={"name": "x"}, headers=read_only)
    assert assert_error_format(forbidden, 403)["code"] == "insufficient_scope"
    bad_json = client.post(
        "/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error_format(bad_json, 422)


def test_oversized_bodies_get_413_by_length_and_when_streamed(
    client: httpx.Client, reference_service: RunningReferenceService
) -> None:
    big = b'{"name": "' + b"x" * 1_100_000 + b'"}'
    headers = {**reference_service.auth_headers(), "Content-Type": "application/json"}
    by_length = client.post("/items", content=big, headers=headers)
    assert assert_error_format(by_length, 413)["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    # A generator body goes out chunked, with no Content-Length to refuse up front.
    streamed = client.post("/items", content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers
    assert assert_error_format(streamed, 413)["code"] == "payload_too_large"
    assert client.post("/items", json={"name": "small"}, headers=headers).status_code == 201


def test_cors_allows_only_configured_origins(client: httpx.Client) -> None:
    allowed = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Origin" in allowed.headers["Vary"]
    foreign = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers

    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    ok = client.options("/items", headers={"Origin": "https://app.example.com", **preflight})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    refused = client.options("/items", headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert_error_format(refused, 403)


def test_openapi_documents_every_reference_route(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    expected = {
        "/health": {"get"},
        "/ping-db": {"get"},
        "/ready": {"get"},
        "/version": {"get"},
        "/metrics": {"get"},
        "/auth/login": {"post"},
        "/auth/refresh": {"post"},
        "/auth/otp/verify": {"post"},
        "/items": {"get", "post"},
        "/items/{item_id}": {"get", "patch", "delete"},
        "/v0/items": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert paths["/v0/items"]["get"]["deprecated"] is True
    assert not any(path.startswith("/__drill") for path in paths)


def test_deprecated_listing_announces_deprecation_and_sunset(
    client: httpx.Client, reference_service: RunningReferenceService
) -> None:
    response = client.get("/v0/items", headers=reference_service.auth_headers())
    assert response.status_code == 200 and "items" in response.json()
    assert response.headers["Deprecation"].startswith("@")
    assert response.headers["Sunset"].endswith("GMT")


def test_metrics_parse_and_have_histograms_and_counters(client: httpx.Client) -> None:
    client.get("/health")
    text = client.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["http_request_duration_seconds"].type == "histogram"
    assert families["db_query_duration_seconds"].type == "histogram"
    assert "http_request_duration_seconds_bucket" in text
    for name in ("http_requests", "http_errors", "cache_hits", "cache_misses"):
        assert families[name].type == "counter", name
    assert 'http_requests_total{method="GET",route="/health",status="200"' in text
