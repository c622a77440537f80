"""Runbook steps 4-6 end to end, with the alert drill through REAL Prometheus and
Alertmanager (Debian's packages): Prometheus scrapes the reference service, a rule on its
error rate fires, Alertmanager posts to the portal's /hooks/alertmanager (pytest-django's
live_server), and the drill sees it. Skips only when the binaries are not installed."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from checks.models import ValidationRun
from drills.models import AlertEvent, Drill
from tests.drills.conftest import drill_state, seed
from tests.drills.test_portal_drills import execute, stage

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "e2e-alertmanager-token"
DRILLS = [
    "load.target_rps",
    "load.cache_hit_ratio",
    "chaos.redis_outage",
    "chaos.db_readiness",
    "alerts.error_drill",
    "rollout.canary_drill",
]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (PROMETHEUS and ALERTMANAGER),
        reason="prometheus / prometheus-alertmanager binaries missing: "
        "apt-get install -y prometheus prometheus-alertmanager (make test does)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready: {log.read_text()[-2000:]}")


def start(args: list[str], ready: str, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_ready(ready, proc, log)
    return proc


@pytest.fixture
def monitoring(tmp_path: Path, live_server, settings, reference_service_factory) -> Iterator:
    settings.PREFLIGHT_ALERTMANAGER_TOKEN = TOKEN
    ref = reference_service_factory(login_limit=40)
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "am.yml").write_text(
        f"""
route:
  receiver: portal
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: portal
    webhook_configs:
      - url: {live_server.url}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: {TOKEN}}}
"""
    )
    # Injected errors answer 500; the chaos drills' 503s must not keep the alert firing.
    (tmp_path / "rules.yml").write_text(
        """
groups:
  - name: drills
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: sum by (service) (rate(http_requests_total{status="500"}[5s])) > 0
        labels: {severity: page}
        annotations: {summary: "5xx from {{ $labels.service }}"}
"""
    )
    target = ref.base_url.removeprefix("http://")
    (tmp_path / "prom.yml").write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{tmp_path / "rules.yml"}]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]}}]
scrape_configs:
  - job_name: reference
    static_configs: [{{targets: ["{target}"], labels: {{service: orders}}}}]
"""
    )
    assert ALERTMANAGER and PROMETHEUS
    am = start(
        [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        f"http://127.0.0.1:{am_port}/-/ready",
        tmp_path / "am.log",
    )
    prom = start(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prom.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ],
        f"http://127.0.0.1:{prom_port}/-/ready",
        tmp_path / "prom.log",
    )
    yield ref
    for proc in (prom, am):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_steps_4_to_6_pass_with_the_alert_through_real_alertmanager(service, monitoring) -> None:
    ref = monitoring
    stage(service, ref, "[alerts]\ndeadline_s = 60\nresolve_deadline_s = 60\ntraffic_rps = 10\n")
    seed(ref)
    run = execute(service, DRILLS)
    results = {r.key: r for r in run.results.all()}
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(DRILLS, "pass"), {
        k: r.summary for k, r in results.items()
    }
    assert run.status == ValidationRun.Status.PASSED
    alert = results["alerts.error_drill"].evidence
    assert 0 < alert["time_to_alert_s"] < 60 and 0 < alert["time_to_resolve_s"] < 60
    assert alert["alert_labels"]["alertname"] == "HighErrorRate"
    stored = AlertEvent.objects.filter(service=service)
    assert set(stored.values_list("status", flat=True)) == {"firing", "resolved"}
    drills = Drill.objects.filter(run=run)
    assert sorted(drills.values_list("key", flat=True)) == sorted(DRILLS)
    assert all(d.timeline and d.status == "passed" for d in drills)
    assert drill_state(ref)["error_rate"] == 0
