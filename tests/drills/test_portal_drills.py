"""Drills in the portal: runs record Drill rows (lock, timeline, audit), the Alertmanager
webhook stores alerts, the pages show them, a drill can be cancelled, and the sweeper
restores a drill whose worker went away. Real reference service, real DB, real HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from checks.engine.hooks import DrillBusy
from checks.engine.profile import ProfileError
from checks.models import ValidationRun
from checks.services import profiles, runs
from drills import services
from drills.models import AlertEvent, Drill
from drills.tasks import sweep_drills
from portal.models import AuditEvent
from tests.conftest import PASSWORD
from tests.drills.conftest import LOAD, ROLLOUT, drill_state, seed

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "am-test-token"


def stage(service, ref, extra: str = "") -> None:
    toml = (
        f'[service]\nname = "{service.slug}"\nbase_url = "{ref.base_url}"\n'
        f'[auth]\nusername = "{ref.username}"\n[limits]\nlogin_attempts = 40\n'
        f'[hooks]\npreset = "reference"\n{LOAD}{ROLLOUT}{extra}'
    )
    profiles.profile_save(
        service=service,
        toml=toml,
        new_secrets={"password": ref.password, "hooks_token": ref.drill_token or ""},
        clear=[],
        actor=None,
    )


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def execute(service, keys: list[str]) -> ValidationRun:
    run = ValidationRun.objects.create(service=service, keys=keys)
    result = runs.execute(run.pk)
    assert result is not None
    return result


@pytest.fixture
def ref(reference_service_factory):
    return reference_service_factory(login_limit=40)


def test_a_run_records_each_drill_with_its_timeline_and_audit(service, ref, lead) -> None:
    stage(service, ref)
    seed(ref)
    run = execute(service, ["chaos.db_readiness", "rollout.canary_drill"])
    assert run.status == "passed", list(run.results.values_list("key", "summary"))
    drills = {d.key: d for d in Drill.objects.filter(run=run)}
    assert {k: d.status for k, d in drills.items()} == {
        "chaos.db_readiness": "passed",
        "rollout.canary_drill": "passed",
    }
    readiness = drills["chaos.db_readiness"]
    assert [e["event"] for e in readiness.timeline][:2] == ["drill started", "hook db_down"]
    assert readiness.evidence["flip_s"] is not None and readiness.restored_at is not None
    assert drills["rollout.canary_drill"].evidence["canary_share"] > 0
    actions = list(
        AuditEvent.objects.filter(service=service, action__startswith="drill_").values_list(
            "action", "payload"
        )
    )
    assert [a for a, _ in actions] == ["drill_started", "drill_finished"] * 2
    assert actions[0][1]["key"] == "chaos.db_readiness"
    client = signed_in(lead)
    page = client.get(reverse("drills:detail", args=[readiness.pk]))
    assert page.status_code == 200 and b"hook db_down" in page.content
    history = client.get(reverse("drills:history", args=[service.slug]))
    assert b"rollout.canary_drill" in history.content
    detail = client.get(reverse("portal:service-detail", args=[service.slug]))
    assert b'id="drills-panel"' in detail.content and b"chaos.db_readiness" in detail.content


def test_one_drill_at_a_time_per_service(service) -> None:
    services.drill_begin(service=service, run=None, key="chaos.redis_outage", restore=["redis_up"])
    with pytest.raises(DrillBusy, match=r"chaos\.redis_outage"):
        services.drill_begin(service=service, run=None, key="chaos.db_readiness", restore=[])


def test_a_drill_finding_the_lock_taken_is_an_error_and_breaks_nothing(service, ref) -> None:
    stage(service, ref)
    services.drill_begin(service=service, run=None, key="load.target_rps", restore=[])
    run = execute(service, ["chaos.db_readiness"])
    result = run.results.get()
    assert result.status == "error" and "one drill at a time" in result.summary
    assert drill_state(ref)["db_down"] is False


def test_the_load_page_plots_the_curve_from_local_static_files(service, lead) -> None:
    evidence = {
        "totals": {
            "requests": 90,
            "failures": 0,
            "rps": 30.0,
            "p50_ms": 3,
            "p95_ms": 9,
            "p99_ms": 12,
            "target_rps": 25,
            "offered_rps": 30,
        },
        "samples": [
            {"t": 0, "rps": 29, "p50_ms": 3, "p95_ms": 8, "errors": 0},
            {"t": 1, "rps": 31, "p50_ms": 3, "p95_ms": 9, "errors": 0},
        ],
        "events": [{"t": 0, "event": "load started"}],
    }
    drill = Drill.objects.create(
        service=service,
        key="load.target_rps",
        status="passed",
        evidence=evidence,
        timeline=evidence["events"],
        finished_at=timezone.now(),
    )
    page = signed_in(lead).get(reverse("drills:detail", args=[drill.pk])).content.decode()
    assert "/static/vendor/plotly.min.js" in page and "/static/js/drill_chart.js" in page
    assert 'id="load-curve-data" type="application/json"' in page
    assert "cdn" not in page.lower() and "<script>" not in page


def test_a_lead_cancels_a_running_drill_and_others_cannot(service, lead, outsider) -> None:
    drill = services.drill_begin(service=service, run=None, key="chaos.db_readiness", restore=[])
    url = reverse("drills:cancel", args=[drill.pk])
    assert signed_in(outsider).post(url).status_code == 403
    drill.refresh_from_db()
    assert drill.cancel_requested_at is None
    assert signed_in(lead).post(url).status_code == 302
    drill.refresh_from_db()
    assert drill.cancel_requested_at is not None and drill.cancelled_by == lead
    assert services.drill_cancel_requested(drill_id=drill.pk)
    Drill.objects.filter(pk=drill.pk).update(status="passed")
    assert signed_in(lead).post(url).status_code == 400


def test_the_sweeper_restores_a_drill_whose_worker_went_silent(service, ref, settings) -> None:
    stage(service, ref)
    with ref.client() as client:
        client.post("/__drill/db", json={"state": "down"}, headers=ref.drill_headers())
    drill = services.drill_begin(
        service=service, run=None, key="chaos.db_readiness", restore=["db_up"]
    )
    assert sweep_drills() == {"abandoned": 0, "restored": 0, "restore_failed": 0}
    Drill.objects.filter(pk=drill.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PREFLIGHT_DRILL_STALE_S + 1)
    )
    assert sweep_drills() == {"abandoned": 1, "restored": 1, "restore_failed": 0}
    drill.refresh_from_db()
    assert drill.status == "abandoned" and drill.restored_at is not None
    assert drill_state(ref)["db_down"] is False
    assert drill.timeline[-1]["event"] == "sweeper: ran db_up"
    # The lock is free again.
    services.drill_begin(service=service, run=None, key="chaos.db_readiness", restore=[])


def test_a_failed_sweeper_restore_is_retried_then_given_up(service, settings) -> None:
    drill = Drill.objects.create(
        service=service,
        key="chaos.redis_outage",
        restore_hooks=["redis_up"],
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    settings.PREFLIGHT_DRILL_RESTORE_ATTEMPTS = 2
    assert sweep_drills()["restore_failed"] == 1  # no staging profile to restore with
    assert sweep_drills()["restore_failed"] == 1
    assert sweep_drills()["restore_failed"] == 0
    drill.refresh_from_db()
    assert drill.restored_at is None and "profile unusable" in drill.restore_note


# --- the Alertmanager webhook ---


def notification(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "preflight",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "HighErrorRate", **labels},
                "annotations": {"summary": "errors"},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }


def post(client: Client, body: Any, token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(
        "/hooks/alertmanager", data=json.dumps(body), content_type="application/json", **headers
    )


def test_the_webhook_stores_alerts_and_links_the_service(service, settings) -> None:
    settings.PREFLIGHT_ALERTMANAGER_TOKEN = TOKEN
    response = post(Client(), notification(service=service.slug))
    assert response.status_code == 200 and response.json() == {"stored": 1}
    alert = AlertEvent.objects.get()
    assert alert.service == service and alert.status == "firing"
    assert alert.alertname == "HighErrorRate" and alert.ends_at is None
    assert post(Client(), notification("resolved", service="unknown")).status_code == 200
    assert AlertEvent.objects.filter(service__isnull=True, status="resolved").count() == 1
    since = timezone.now() - timedelta(minutes=1)
    assert len(services.alerts_since(matchers={"service": service.slug}, since=since)) == 1


def test_the_webhook_refuses_without_the_token(service, settings) -> None:
    settings.PREFLIGHT_ALERTMANAGER_TOKEN = ""
    assert post(Client(), notification()).status_code == 503
    settings.PREFLIGHT_ALERTMANAGER_TOKEN = TOKEN
    assert post(Client(), notification(), token=None).status_code == 401
    assert post(Client(), notification(), token="wrong").status_code == 401
    assert post(Client(), {"alerts": "nope"}).status_code == 400
    assert post(Client(), {"alerts": [{"status": "odd"}]}).status_code == 400
    assert Client().get("/hooks/alertmanager").status_code == 405
    assert not AlertEvent.objects.exists()


# --- the profile's hooks token ---


def test_the_hooks_token_is_a_write_only_encrypted_secret(service, ref, lead) -> None:
    stage(service, ref)
    stored = service.profile.secrets["hooks_token"]
    assert ref.drill_token not in stored and ref.drill_token not in service.profile.toml
    page = signed_in(lead).get(reverse("checks:profile", args=[service.slug])).content.decode()
    assert 'name="hooks_token"' in page and ref.drill_token not in page
    with pytest.raises(ProfileError, match=r"hooks\.token"):
        profiles.profile_save(
            service=service,
            toml=service.profile.toml.replace("[hooks]\n", '[hooks]\ntoken = "x"\n'),
            new_secrets={},
            clear=[],
            actor=None,
        )
    bad = service.profile.toml + '[hooks.db_up]\nurl = "/x"\nheaders_env = { A = "HOME" }\n'
    with pytest.raises(ProfileError, match="headers_env"):
        profiles.profile_save(service=service, toml=bad, new_secrets={}, clear=[], actor=None)


def test_stored_evidence_moves_to_the_settled_events_and_samples_keys(service) -> None:
    import importlib

    from django.apps import apps

    from checks.models import CheckResult

    migration = importlib.import_module("drills.migrations.0002_evidence_keys_events_samples")
    run = ValidationRun.objects.create(service=service, keys=["load.target_rps"])
    curve = [{"t": 0, "rps": 30, "p50_ms": 3, "p95_ms": 8, "errors": 0}]
    events = [{"t": 0, "event": "drill started"}]
    old = {
        "load.target_rps": {"timeline": curve, "events": events, "totals": {}},
        "chaos.db_readiness": {"timeline": events, "flip_s": 2.0},
        "smoke.health": {"timeline": "not a drill: left alone"},
    }
    for key, evidence in old.items():
        CheckResult.objects.create(run=run, key=key, status="pass", evidence=evidence)
    drill = Drill.objects.create(
        service=service, key="rollout.canary_drill", status="passed", evidence={"timeline": events}
    )
    migration.forward(apps, None)
    stored = {r.key: r.evidence for r in CheckResult.objects.filter(run=run)}
    assert stored["load.target_rps"] == {"samples": curve, "events": events, "totals": {}}
    assert stored["chaos.db_readiness"] == {"events": events, "flip_s": 2.0}
    assert stored["smoke.health"] == old["smoke.health"]
    drill.refresh_from_db()
    assert drill.evidence == {"events": events}
    migration.backward(apps, None)
    stored = {r.key: r.evidence for r in CheckResult.objects.filter(run=run)}
    assert stored["load.target_rps"] == old["load.target_rps"]
    assert stored["chaos.db_readiness"] == old["chaos.db_readiness"]


def test_the_alert_drill_skips_naming_the_setting_when_the_webhook_has_no_token(
    service, ref, settings
) -> None:
    """No Prometheus/Alertmanager can post without the token: skip (not a 180 s wait ending
    in a failure), naming what is missing and the setting the gate will list."""
    settings.PREFLIGHT_ALERTMANAGER_TOKEN = ""
    stage(service, ref)
    run = execute(service, ["alerts.error_drill"])
    result = run.results.get()
    assert result.status == "skip", result.summary
    assert "PREFLIGHT_ALERTMANAGER_TOKEN" in result.summary
    assert "prometheus-alertmanager" in result.summary
    assert result.evidence["setting"] == "PREFLIGHT_ALERTMANAGER_TOKEN"
    assert drill_state(ref)["error_rate"] == 0  # errors were never switched on
