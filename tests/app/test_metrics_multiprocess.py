"""Under gunicorn several processes answer requests; with PROMETHEUS_MULTIPROC_DIR set (the
entrypoint sets it) /metrics reports the sum over all of them. Real processes here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import multiprocessing

def hit(n):
    import django
    django.setup()
    from django.test import Client
    client = Client()
    for _ in range(n):
        assert client.get('/health', HTTP_HOST='127.0.0.1').status_code == 200

if __name__ == '__main__':
    import django
    django.setup()
    from django.core.management import call_command
    call_command('migrate', verbosity=0)
    ctx = multiprocessing.get_context('spawn')
    workers = [ctx.Process(target=hit, args=(3,)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        assert w.exitcode == 0
    from django.test import Client
    print(Client().get('/metrics', HTTP_HOST='127.0.0.1').content.decode())
"""


def test_metrics_are_summed_over_worker_processes(tmp_path) -> None:
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PREFLIGHT_ENV": "test",
        "PREFLIGHT_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_LEVEL": "WARNING",
    }
    script = tmp_path / "workers.py"  # a file: spawned children re-import it by path
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    served = re.search(
        r'^preflight_http_requests_total\{method="GET",status="200"\} (\S+)$',
        done.stdout,
        re.MULTILINE,
    )
    assert served is not None, done.stdout[:2000]
    assert float(served.group(1)) == 6.0  # 3 + 3 from two processes; the scrape not yet counted
    assert "preflight_validation_runs" in done.stdout  # the scrape-time figures are there too
    assert len(list(metrics_dir.glob("*.db"))) >= 2
