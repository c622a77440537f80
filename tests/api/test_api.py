"""The JSON API's rules: token auth and scopes, the error format everywhere under /api/,
X-Request-ID, cursor pagination, Idempotency-Key, facts from CI and the CI gate command."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from api.models import ApiToken, IdempotencyRecord
from checks.models import ValidationRun
from portal import services as portal_services
from portal.models import AuditEvent, ItemState
from reviews import services as review_services
from reviews.models import FactReport
from tests.checks.conftest import profile_for
from tests.conftest import PASSWORD
from tests.support.launches import make_ready

pytestmark = pytest.mark.django_db


def _bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert response["X-Request-ID"]
    return body


def test_no_token_is_401_in_the_error_format(client, service) -> None:
    response = client.get("/api/v1/services")
    _error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    _error(client.get("/api/v1/services", **_bearer("pf_nope")), 401, "invalid_token")


def test_unknown_routes_and_methods_answer_in_the_error_format(client, api_token) -> None:
    auth = _bearer(api_token("read"))
    _error(client.get("/api/v1/nope", **auth), 404, "not_found")
    _error(client.delete("/api/v2/x"), 404, "not_found")
    response = client.delete("/api/v1/services", **auth)
    _error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]
    _error(client.get("/api/v1/services/nope", **auth), 404, "not_found")
    _error(client.get("/api/v1/runs/999999", **auth), 404, "not_found")


def test_the_request_id_is_echoed_or_generated(client, api_token) -> None:
    auth = _bearer(api_token("read"))
    assert (
        client.get("/api/v1/services", HTTP_X_REQUEST_ID="abc-123", **auth)["X-Request-ID"]
        == "abc-123"
    )
    assert len(client.get("/api/v1/services", **auth)["X-Request-ID"]) >= 16


def test_services_are_listed_with_readiness_and_cursor_pages(
    client, api_token, service, team, template
) -> None:
    for i in range(4):
        portal_services.service_create(name=f"S{i}", slug=f"s{i}", team=team, template=template)
    auth = _bearer(api_token("read"))
    seen, cursor = [], None
    for _ in range(5):
        url = "/api/v1/services?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, **auth).json()
        seen += [s["slug"] for s in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["orders", "s0", "s1", "s2", "s3"]
    first = client.get("/api/v1/services?limit=1", **auth).json()["items"][0]
    assert first["readiness"]["total"] == 39 and first["readiness"]["state"] == "in_progress"
    _error(client.get("/api/v1/services?limit=0", **auth), 400, "validation_error")
    _error(client.get("/api/v1/services?limit=101", **auth), 400, "validation_error")
    _error(client.get("/api/v1/services?cursor=%%%", **auth), 400, "invalid_cursor")


def test_a_service_shows_items_gate_and_launch_status(client, api_token, ready_service) -> None:
    auth = _bearer(api_token("read"))
    body = client.get("/api/v1/services/orders", **auth).json()
    assert len(body["items"]) == 39 and body["gate"]["passed"] is True
    assert body["latest_run"]["status"] == "passed"
    launch = client.get("/api/v1/services/orders/launch", **auth).json()
    assert launch["approved"] is False and launch["review"] is None
    assert launch["reasons"] == ["no launch has been requested"]


def test_the_gate_and_runs_say_what_was_skipped(client, api_token, ready_service) -> None:
    from tests.support.launches import record_run

    run = record_run(ready_service, {"db.index_usage": ("skip", {"setting": "mongo.uri"})})
    auth = _bearer(api_token("read"))
    detail = client.get(f"/api/v1/runs/{run.pk}", **auth).json()
    assert detail["counts"] == {
        "passed": 0,
        "failed": 0,
        "skipped": 1,
        "errored": 0,
        "not_configured": 1,
        "total": 1,
    }
    assert detail["verdict"] == "nothing verified: 1 skipped: not configured"
    gate = client.get("/api/v1/services/orders/launch", **auth).json()["gate"]
    assert gate["passed"] is False
    assert gate["skipped"] == [
        {
            "kind": "check",
            "key": "db.index_usage",
            "status": "skip",
            "reason": f"db.index_usage skipped in run #{run.pk}: needs setting mongo.uri",
            "setting": "mongo.uri",
            "items": ["data.explain_hot_queries"],
        }
    ]
    rule = next(r for r in gate["rules"] if r["key"] == "verifying_checks")
    assert rule["passed"] is False and rule["findings"] == gate["skipped"]
    assert gate["full_run"]["counts"]["passed"] > 0


def test_a_browser_session_may_read_but_not_write(service, lead) -> None:
    client = Client(enforce_csrf_checks=True)
    client.login(username="lead", password=PASSWORD)
    assert client.get("/api/v1/services").status_code == 200
    _error(
        client.post("/api/v1/services/orders/facts", {}, content_type="application/json"),
        403,
        "csrf_failed",
    )
    relaxed = Client()
    relaxed.login(username="lead", password=PASSWORD)
    _error(
        relaxed.post("/api/v1/services/orders/facts", {}, content_type="application/json"),
        403,
        "insufficient_scope",
    )


def _facts(client, secret, body, **headers):
    return client.post(
        "/api/v1/services/orders/facts",
        json.dumps(body),
        content_type="application/json",
        **_bearer(secret),
        **headers,
    )


GOOD = {
    "commit": "abc123",
    "ci_url": "https://ci.example.com/build/7",
    "coverage": {"percent": 87.5, "tool": "pytest-cov"},
    "scans": [
        {"kind": "lint", "tool": "ruff", "findings": {}},
        {"kind": "typecheck", "tool": "mypy", "findings": {"low": 0}},
        {"kind": "security", "tool": "bandit", "findings": {"low": 2}},
    ],
    "dependency_audit": {"tool": "pip-audit", "packages_checked": 42, "findings": {}},
}


def test_facts_verify_the_quality_gate_items_with_expiry(client, api_token, service) -> None:
    response = _facts(client, api_token("facts:write"), GOOD)
    assert response.status_code == 201, response.content
    states = {
        s.item_key: s
        for s in ItemState.objects.filter(service=service, item_key__startswith="testing.")
    }
    for key in ("testing.coverage", "testing.static_checks", "testing.dependency_scan"):
        assert states[key].state == "done" and states[key].updated_by is None
        assert states[key].expires_at and states[key].evidence_url == GOOD["ci_url"]
    assert AuditEvent.objects.filter(action="facts_received").count() == 1
    assert AuditEvent.objects.filter(action="verified").count() == 3


@pytest.mark.parametrize(
    ("change", "key", "why"),
    [
        ({"coverage": {"percent": 79.9}}, "testing.coverage", "79.9%"),
        (
            {"dependency_audit": {"tool": "pip-audit", "packages_checked": 0, "findings": {}}},
            "testing.dependency_scan",
            "checked 0 packages",
        ),
        (
            {"dependency_audit": {"packages_checked": 10, "findings": {"high": 1}}},
            "testing.dependency_scan",
            "high",
        ),
        (
            {"scans": [{"kind": "security", "tool": "bandit", "findings": {"medium": 1}}]},
            "testing.static_checks",
            "medium",
        ),
    ],
)
def test_bad_facts_mark_the_item_failing(client, api_token, service, change, key, why) -> None:
    response = _facts(client, api_token("facts:write"), {**GOOD, **change})
    assert response.status_code == 201
    state = ItemState.objects.get(service=service, item_key=key)
    assert state.state == "failing" and why in state.note
    assert response.json()["verdicts"][key]["passed"] is False


def test_invalid_facts_are_400_with_details(client, api_token, service) -> None:
    body = _error(
        _facts(client, api_token("facts:write"), {"coverage": {"percent": 180}, "x": 1}),
        400,
        "validation_error",
    )
    assert {d["field"] for d in body["error"]["details"]} == {"coverage.percent", "x"}
    assert FactReport.objects.count() == 0


def test_scopes_and_team_bound_tokens(client, api_token, service, other_team) -> None:
    _error(_facts(client, api_token("read"), GOOD), 403, "insufficient_scope")
    _error(
        client.get("/api/v1/services", **_bearer(api_token("facts:write"))),
        403,
        "insufficient_scope",
    )
    elsewhere = api_token("facts:write", name="search-ci", team=other_team)
    _error(_facts(client, elsewhere, GOOD), 403, "forbidden")


def test_idempotency_key_replays_and_refuses_another_body(client, api_token, service) -> None:
    secret = api_token("facts:write")
    first = _facts(client, secret, GOOD, HTTP_IDEMPOTENCY_KEY="k1")
    again = _facts(client, secret, GOOD, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert FactReport.objects.count() == 1
    _error(
        _facts(client, secret, {**GOOD, "commit": "other"}, HTTP_IDEMPOTENCY_KEY="k1"),
        409,
        "idempotency_conflict",
    )
    assert FactReport.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_start_a_run_with_runs_write(client, api_token, service, reference_service) -> None:
    secret = api_token("runs:write", "read")
    response = client.post(
        "/api/v1/services/orders/runs",
        json.dumps({"steps": ["smoke"]}),
        content_type="application/json",
        **_bearer(secret),
    )
    _error(response, 400, "validation_error")  # no staging profile yet
    profile_for(service, reference_service)
    response = client.post(
        "/api/v1/services/orders/runs",
        json.dumps({"steps": ["smoke"]}),
        content_type="application/json",
        **_bearer(secret),
    )
    assert response.status_code == 202, response.content
    run = ValidationRun.objects.get()
    assert run.trigger == "api" and run.triggered_by is None and run.steps == ["smoke"]
    listed = client.get("/api/v1/services/orders/runs", **_bearer(secret)).json()
    assert [r["id"] for r in listed["items"]] == [run.pk]
    detail = client.get(f"/api/v1/runs/{run.pk}", **_bearer(secret)).json()
    assert detail["results"] == [] and detail["status"] == "queued"
    _error(
        client.post(
            "/api/v1/services/orders/runs",
            "[1]",
            content_type="application/json",
            **_bearer(secret),
        ),
        400,
        "validation_error",
    )


def test_revoked_tokens_stop_working_and_tokens_are_stored_hashed(
    client, api_token, service
) -> None:
    secret = api_token("read", name="ci")
    token = ApiToken.objects.get(name="ci")
    assert secret not in token.token_hash and len(token.token_hash) == 64
    assert client.get("/api/v1/services", **_bearer(secret)).status_code == 200
    call_command("api_token", "revoke", "--name", "ci")
    _error(client.get("/api/v1/services", **_bearer(secret)), 401, "invalid_token")
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "token_created" in actions and "token_revoked" in actions


def test_the_api_token_command_prints_the_token_once(capsys, db) -> None:
    call_command("api_token", "create", "--name", "pipeline", "--scopes", "read,facts:write")
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("pf_")
    assert ApiToken.objects.get(name="pipeline").scopes == ["facts:write", "read"]
    call_command("api_token", "list")
    assert secret not in capsys.readouterr().out


def _gate(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        call_command("launch_gate", *args)
    return int(exit_info.value.code or 0)


def test_launch_gate_command_local_mode(ready_service, lead, search_reviewers, capsys) -> None:
    assert _gate("orders") == 1
    assert "no launch has been requested" in capsys.readouterr().out
    review = review_services.launch_request(
        service=ready_service, actor=lead, target_date=date.today() + timedelta(days=1)
    )
    for reviewer in search_reviewers:
        review_services.launch_approve(review=review, actor=reviewer)
    assert _gate("orders") == 0
    assert "may ship" in capsys.readouterr().out
    assert _gate("nope") == 2


@pytest.mark.django_db(transaction=True)
def test_launch_gate_command_remote_mode(live_server, service, api_token) -> None:
    make_ready(service)
    secret = api_token("read")
    env = {"PREFLIGHT_ENV": "test", "CI_TOKEN": secret, "PATH": "/usr/bin:/bin"}
    import os

    env["PREFLIGHT_VAR_DIR"] = os.environ.get("PREFLIGHT_VAR_DIR", "var")
    proc = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "launch_gate",
            "orders",
            "--url",
            live_server.url,
            "--token-env",
            "CI_TOKEN",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert "no launch has been requested" in proc.stdout
    env["CI_TOKEN"] = "pf_wrong"
    proc = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "launch_gate",
            "orders",
            "--url",
            live_server.url,
            "--token-env",
            "CI_TOKEN",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2 and "401" in proc.stderr
