"""Request IDs, JSON logs (also in a real worker), /metrics, /health and /ready."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from app.jsonlog import JsonFormatter
from app.requestid import RequestIdMiddleware, UserIdMiddleware, request_id
from tests.checks.conftest import profile_for


def test_a_request_id_is_generated_and_a_sane_one_is_echoed(db) -> None:
    client = Client()
    generated = client.get("/health")["X-Request-ID"]
    assert len(generated) == 32 and generated != client.get("/health")["X-Request-ID"]
    assert client.get("/health", HTTP_X_REQUEST_ID="ci-build-42")["X-Request-ID"] == "ci-build-42"
    hostile = client.get("/health", HTTP_X_REQUEST_ID="x" * 500)["X-Request-ID"]
    assert hostile != "x" * 500 and len(hostile) == 32


def test_log_lines_are_json_with_request_and_user_ids(lead) -> None:
    records: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(JsonFormatter())
    handler.emit = lambda record: records.append(handler.format(record))  # type: ignore[method-assign]
    logger = logging.getLogger("preflight.test")
    logger.addHandler(handler)

    def view(request):
        logger.warning("inside the view", extra={"item": "security.cors_allowlist"})
        return HttpResponse("ok")

    request = RequestFactory().get("/x", HTTP_X_REQUEST_ID="req-123")
    request.user = lead
    try:
        RequestIdMiddleware(UserIdMiddleware(view))(request)
    finally:
        logger.removeHandler(handler)
    line = json.loads(records[0])
    assert line["request_id"] == "req-123" and line["user_id"] == str(lead.pk)
    assert line["message"] == "inside the view" and line["item"] == "security.cors_allowlist"
    assert {"ts", "level", "logger", "trace_id", "span_id"} <= set(line)
    assert request_id.get() == ""  # reset after the request


def test_metrics_expose_latency_errors_runs_and_queue_depth(db, client) -> None:
    client.get("/health")
    text = client.get("/metrics").content.decode()
    assert (
        'preflight_http_request_duration_seconds_bucket{le="0.005",method="GET",route="health"}'
        in text
    )
    assert "preflight_http_requests_total" in text and "preflight_http_errors_total" in text
    assert "preflight_validation_runs" in text and "preflight_drills" in text
    assert 'preflight_validation_run_duration_seconds{quantile="0.95"}' in text
    assert 'preflight_check_duration_seconds{quantile="0.5"}' in text
    assert "preflight_queue_depth" in text


def test_cache_hits_and_misses_are_counted(lead, client) -> None:
    from prometheus_client import REGISTRY

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"cache": "dashboards"}) or 0.0

    client.force_login(lead)
    misses, hits = value("preflight_cache_misses_total"), value("preflight_cache_hits_total")
    client.get("/dashboards/")
    client.get("/dashboards/")
    assert value("preflight_cache_misses_total") == misses + 1
    assert value("preflight_cache_hits_total") == hits + 1


def test_metrics_can_require_a_token(db, client, settings) -> None:
    settings.PREFLIGHT_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_ready_reports_database_and_broker(db, client) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_ready_flips_fast_when_the_broker_is_unreachable(db, client, settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    started = time.monotonic()
    response = client.get("/ready")
    assert response.status_code == 503 and time.monotonic() - started < 1.0
    assert response.json()["checks"]["broker"].startswith("down")


def test_ready_answers_within_a_second_when_the_database_hangs(db, client, monkeypatch) -> None:
    # A hung database cannot be produced here on demand; stand in for it with a slow probe.
    import app.health

    monkeypatch.setattr(app.health, "_database", lambda: time.sleep(3))
    started = time.monotonic()
    response = client.get("/ready")
    assert response.status_code == 503 and time.monotonic() - started < 1.0
    assert response.json()["checks"]["database"] == "timeout"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_logs_json_with_the_request_id_of_the_enqueuer(
    service, lead, reference_service, worker, tmp_path
) -> None:
    from checks.models import ValidationRun
    from checks.services import runs

    staged_service = service
    profile_for(service, reference_service)

    token = request_id.set("req-from-the-web")
    try:
        run = runs.run_request(service=staged_service, actor=lead, keys=["smoke.health"])
    finally:
        request_id.reset(token)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ValidationRun.objects.get(pk=run.pk).finished:
        time.sleep(0.2)
    time.sleep(0.3)
    lines = [
        json.loads(x)
        for x in (tmp_path / "worker.log").read_text().splitlines()
        if x.startswith("{")
    ]
    mine = [x for x in lines if x.get("run_id") == run.pk]
    assert mine and mine[0]["request_id"] == "req-from-the-web"
    assert mine[0]["message"] == f"validation run {run.pk}: passed"
