"""Each flaw switch visibly breaks its one rule (and the healthy service keeps it)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable

import jwt

from examples.reference_service import FLAWS
from tests.reference_service.test_contract import assert_error_format
from tests.reference_service.test_items import create
from tests.support.refservice import RunningReferenceService

Factory = Callable[..., RunningReferenceService]


def test_health_down(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["health_down"])
    with service.client() as client:
        assert_error_format(client.get("/health"), 500)


def test_ping_db_broken(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["ping_db_broken"])
    with service.client() as client:
        assert_error_format(client.get("/ping-db"), 503)
        assert client.get("/health").status_code == 200


def test_crud_delete_noop(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["crud_delete_noop"])
    with service.client(headers=service.auth_headers()) as api:
        item = create(api, "immortal").json()
        assert api.delete(f"/items/{item['id']}").status_code == 204
        assert api.get(f"/items/{item['id']}").status_code == 200


def test_offset_pagination(reference_service_factory: Factory) -> None:
    """Deleting already-returned items shifts an offset: unseen survivors get skipped."""
    service = reference_service_factory(flaws=["offset_pagination"])
    with service.client(headers=service.auth_headers()) as api:
        ids = {create(api, f"i{n}").json()["id"] for n in range(12)}
        first_page = api.get("/items", params={"limit": 4}).json()
        deleted = {item["id"] for item in first_page["items"][:3]}
        for item_id in deleted:
            api.delete(f"/items/{item_id}")
        seen = {item["id"] for item in first_page["items"]}
        cursor = first_page["next_cursor"]
        while cursor:
            page = api.get("/items", params={"limit": 4, "cursor": cursor}).json()
            seen |= {item["id"] for item in page["items"]}
            cursor = page["next_cursor"]
    first_cursor = first_page["next_cursor"]
    padded = first_cursor + "=" * (-len(first_cursor) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {"o": 4}
    assert len((ids - deleted) - seen) == 3, "offset paging should skip three survivors"


def test_no_rate_limit(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_rate_limit"], login_limit=2, otp_limit=2)
    with service.client() as client:
        logins = [
            client.post("/auth/login", json={"username": "u", "password": "x"}).status_code
            for _ in range(5)
        ]
        assert logins == [401] * 5
        client.headers.update(service.auth_headers())
        codes = [
            client.post("/auth/otp/verify", json={"code": "bad"}).status_code for _ in range(5)
        ]
        assert codes == [401] * 5


def test_jwt_no_exp(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["jwt_no_exp"])
    token = service.login()["access_token"]
    assert "exp" not in jwt.decode(token, options={"verify_signature": False})
    with service.client() as client:
        response = client.get("/items", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


def test_refresh_reuse(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["refresh_reuse"])
    refresh = service.login()["refresh_token"]
    with service.client() as client:
        for _ in range(3):
            reused = client.post("/auth/refresh", json={"refresh_token": refresh})
            assert reused.status_code == 200


def test_no_scope_check(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_scope_check"])
    with service.client(headers=service.auth_headers(scope="items:read")) as api:
        assert create(api, "written with a read-only token").status_code == 201


def test_otp_reuse(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["otp_reuse"])
    code = service.totp().now()
    with service.client(headers=service.auth_headers()) as client:
        for _ in range(3):
            assert client.post("/auth/otp/verify", json={"code": code}).status_code == 200


def test_cors_wildcard(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["cors_wildcard"])
    with service.client() as client:
        foreign = client.get("/health", headers={"Origin": "https://evil.example"})
        assert foreign.headers["Access-Control-Allow-Origin"] == "*"
        preflight = client.options(
            "/items",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_tls_serves_hsts_and_plain_http_redirects(reference_service_factory: Factory) -> None:
    tls = reference_service_factory(tls=True)
    assert tls.base_url.startswith("https://") and tls.ca_path
    plain = reference_service_factory(https_redirect_to=tls.base_url)
    with plain.client() as client:
        redirect = client.get("/items?limit=1")
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == f"{tls.base_url}/items?limit=1"
        assert redirect.headers["X-Request-ID"]
    with tls.client() as client:
        hsts = client.get("/health").headers["Strict-Transport-Security"]
        assert "max-age=31536000" in hsts


def test_no_hsts(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_hsts"], tls=True)
    with service.client() as client:
        response = client.get("/health")
        assert response.status_code == 200
        assert "Strict-Transport-Security" not in response.headers


def test_no_security_headers(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_security_headers"])
    with service.client() as client:
        headers = client.get("/health").headers
        for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
            assert name not in headers
        assert "Referrer-Policy" not in headers


def test_no_body_limit(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_body_limit"])
    big = json.dumps({"name": "n", "tags": ["x" * 60] * 20, "pad": "y" * 1_200_000})
    headers = {**service.auth_headers(), "Content-Type": "application/json"}
    with service.client() as client:
        assert client.post("/items", content=big, headers=headers).status_code == 201


def test_plain_errors(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["plain_errors"])
    with service.client() as client:
        assert client.get("/nope").json() == {"detail": "Not Found"}
        assert "detail" in client.get("/items").json()
        invalid = client.post("/auth/login", json={})
        assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], list)


def test_openapi_incomplete(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["openapi_incomplete"])
    with service.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert "/items" not in paths and "/items/{item_id}" not in paths
        assert "/health" in paths
        assert client.get("/items", headers=service.auth_headers()).status_code == 200


def test_no_deprecation_header(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_deprecation_header"])
    with service.client(headers=service.auth_headers()) as client:
        response = client.get("/v0/items")
        assert response.status_code == 200
        assert "Deprecation" not in response.headers and "Sunset" not in response.headers
        assert client.get("/openapi.json").json()["paths"]["/v0/items"]["get"]["deprecated"]


def test_no_idempotency(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_idempotency"])
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with service.client(headers=service.auth_headers()) as api:
        first, second = create(api, "dup", **key), create(api, "dup", **key)
        assert first.json()["id"] != second.json()["id"]
        assert create(api, "other body", **key).status_code == 201


def test_no_request_id(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["no_request_id"])
    with service.client() as client:
        assert "X-Request-ID" not in client.get("/health", headers={"X-Request-ID": "r1"}).headers


def test_metrics_incomplete(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["metrics_incomplete"])
    with service.client() as client:
        client.get("/health")
        text = client.get("/metrics").text
        assert "_bucket" not in text and "histogram" not in text
        assert "cache_hits_total" not in text and "cache_misses_total" not in text
        assert "http_requests_total" in text


def test_ready_ignores_db(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["ready_ignores_db"])
    with service.client() as client:
        client.post("/__drill/db", json={"state": "down"}, headers=service.drill_headers())
        assert client.get("/ready").status_code == 200
        assert client.get("/ping-db").status_code == 503


def test_redis_hard_dependency(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["redis_hard_dependency"])
    with service.client(headers=service.auth_headers()) as api:
        item = create(api, "needs-redis").json()
        api.post("/__drill/redis", json={"state": "down"}, headers=service.drill_headers())
        assert_error_format(api.get(f"/items/{item['id']}"), 503)
        api.post("/__drill/redis", json={"state": "up"}, headers=service.drill_headers())
        assert api.get(f"/items/{item['id']}").status_code == 200


def test_canary_stuck(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["canary_stuck"])
    drill = service.drill_headers()
    with service.client() as client:
        client.post("/__drill/release", json={"canary_version": "c", "weight": 100}, headers=drill)
        client.post("/__drill/release", json={"canary_version": "c", "weight": 0}, headers=drill)
        assert client.get("/version").headers["X-App-Version"] == "c"


def test_slow(reference_service_factory: Factory) -> None:
    service = reference_service_factory(flaws=["slow"])
    with service.client() as client:
        started = time.monotonic()
        for _ in range(4):
            client.get("/health")
        assert time.monotonic() - started >= 0.2
        started = time.monotonic()
        client.get("/metrics")  # exempt: Prometheus must still scrape a slow service
        assert time.monotonic() - started < 0.05


def test_every_flaw_has_a_test_here() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(FLAWS) <= tested


def test_flawed_services_start_quickly(reference_service_factory: Factory) -> None:
    started = time.monotonic()
    reference_service_factory(flaws=list(FLAWS))
    assert time.monotonic() - started < 5
