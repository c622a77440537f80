"""Drill hooks over HTTP, and the cache and rate limits on a real Redis."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import redis

from tests.reference_service.test_contract import assert_error_format
from tests.support.refservice import RunningReferenceService

REDIS_URL = "redis://127.0.0.1:6379/0"


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture(scope="module")
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return client


def test_drill_hooks_need_the_token_and_vanish_without_one(
    reference_service: RunningReferenceService, reference_service_factory: Any
) -> None:
    with reference_service.client() as client:
        assert_error_format(client.get("/__drill/state"), 401)
        wrong = {"Authorization": "Bearer wrong"}
        assert_error_format(client.post("/__drill/db", json={"state": "down"}, headers=wrong), 401)
        state = client.get("/__drill/state", headers=reference_service.drill_headers())
        assert state.json() == {
            "redis_down": False,
            "db_down": False,
            "error_rate": 0.0,
            "canary_version": None,
            "canary_weight": 0,
        }
        bad = client.post(
            "/__drill/errors", json={"rate": 2}, headers=reference_service.drill_headers()
        )
        assert_error_format(bad, 422)
    service = reference_service_factory(drill_token=None)
    with service.client() as client:
        assert_error_format(client.get("/__drill/state"), 404)


def test_db_drill_fails_readiness_and_item_routes_then_recovers(
    reference_service_factory: Any,
) -> None:
    service = reference_service_factory()
    with service.client(headers=service.auth_headers()) as api:
        item = api.post("/items", json={"name": "cached"}).json()
        api.get(f"/items/{item['id']}")
        api.post("/__drill/db", json={"state": "down"}, headers=service.drill_headers())
        assert assert_error_format(api.get("/ping-db"), 503)["code"] == "db_unavailable"
        assert assert_error_format(api.get("/ready"), 503)["details"] == {
            "db": "unavailable",
            "cache": "ok",
        }
        assert_error_format(api.get(f"/items/{item['id']}"), 503)
        assert_error_format(api.get("/items"), 503)
        assert api.get("/health").status_code == 200, "liveness must not touch the database"
        api.post("/__drill/db", json={"state": "up"}, headers=service.drill_headers())
        assert api.get("/ready").status_code == 200
        assert api.get(f"/items/{item['id']}").status_code == 200


def test_errors_drill_fails_about_that_share_of_requests(reference_service_factory: Any) -> None:
    service = reference_service_factory()
    service.app.state.ref.drills.rng.seed(7)
    with service.client() as client:
        client.post("/__drill/errors", json={"rate": 0.5}, headers=service.drill_headers())
        statuses = Counter(client.get("/health").status_code for _ in range(200))
        assert set(statuses) == {200, 500}
        assert 70 <= statuses[500] <= 130
        failed = next(r for r in (client.get("/version") for _ in range(50)) if r.is_server_error)
        assert assert_error_format(failed, 500)["code"] == "injected_error"
        # /metrics stays up, so Prometheus sees the error rate it is meant to alert on.
        text = client.get("/metrics").text
        assert metric(text, "http_errors_total") >= 70
        client.post("/__drill/errors", json={"rate": 0}, headers=service.drill_headers())
        assert all(client.get("/health").status_code == 200 for _ in range(20))


def test_release_drill_serves_the_canary_to_its_weight_and_rolls_back(
    reference_service_factory: Any,
) -> None:
    service = reference_service_factory(version="1.0.0")
    service.app.state.ref.drills.rng.seed(11)
    with service.client() as client:
        release = {"canary_version": "1.1.0-rc1", "weight": 10}
        client.post("/__drill/release", json=release, headers=service.drill_headers())
        responses = [client.get("/version") for _ in range(400)]
        for response in responses:
            assert response.json()["version"] == response.headers["X-App-Version"]
        served = Counter(response.headers["X-App-Version"] for response in responses)
        assert set(served) == {"1.0.0", "1.1.0-rc1"}
        assert 20 <= served["1.1.0-rc1"] <= 60
        rollback = {"canary_version": "1.1.0-rc1", "weight": 0}
        state = client.post("/__drill/release", json=rollback, headers=service.drill_headers())
        assert state.json()["canary_version"] is None
        assert {client.get("/health").headers["X-App-Version"] for _ in range(50)} == {"1.0.0"}


def test_real_redis_backs_the_cache_and_the_rate_limits(
    reference_service_factory: Any, redis_client: redis.Redis
) -> None:
    service = reference_service_factory(redis_url=REDIS_URL, login_limit=2)
    prefix = service.app.state.ref.kv.prefix
    try:
        with service.client(headers=service.auth_headers()) as api:
            item = api.post("/items", json={"name": "in redis"}).json()
            assert api.get(f"/items/{item['id']}").status_code == 200
            assert api.get(f"/items/{item['id']}").json() == item
            assert redis_client.exists(f"{prefix}item:{item['id']}") == 1
            text = api.get("/metrics").text
            assert metric(text, "cache_misses_total") == 1
            assert metric(text, "cache_hits_total") == 1

            for _ in range(3):
                api.post("/auth/login", json={"username": "someone", "password": "x"})
            assert redis_client.keys(f"{prefix}rl:login:*")
            assert (
                api.post("/auth/login", json={"username": "someone", "password": "x"}).status_code
                == 429
            )

            # Redis "down": reads still succeed from the store, readiness says not ready.
            api.post("/__drill/redis", json={"state": "down"}, headers=service.drill_headers())
            assert api.get(f"/items/{item['id']}").status_code == 200
            assert assert_error_format(api.get("/ready"), 503)["details"]["cache"] == "unavailable"
            # Rate limiting keeps counting in-process rather than failing open.
            attempts = [
                api.post("/auth/login", json={"username": "other", "password": "x"}).status_code
                for _ in range(3)
            ]
            assert attempts == [401, 401, 429]
            assert metric(api.get("/metrics").text, "cache_errors_total") >= 1
            api.post("/__drill/redis", json={"state": "up"}, headers=service.drill_headers())
            assert api.get("/ready").status_code == 200
    finally:
        keys = redis_client.keys(f"{prefix}*")
        if keys:
            redis_client.delete(*keys)


def test_an_unreachable_redis_degrades_instead_of_failing(reference_service_factory: Any) -> None:
    # Nothing listens on port 1: every Redis call fails fast with a connection error.
    service = reference_service_factory(redis_url="redis://127.0.0.1:1/0")
    with service.client(headers=service.auth_headers()) as api:
        item = api.post("/items", json={"name": "no cache"}).json()
        assert api.get(f"/items/{item['id']}").json() == item
        assert api.get("/ready").status_code == 503
        assert metric(api.get("/metrics").text, "cache_errors_total") >= 2
