"""A real Celery worker process for the tests that need one: real Redis (the suite's own
queue) and the real test database, which is a file (SQLite) or PostgreSQL for this reason."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PREFLIGHT_ENV": "test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        # The worker must decrypt what this process encrypted.
        "PREFLIGHT_SECRET_KEYS": ",".join(settings.PREFLIGHT_SECRET_KEYS),
        # ...and seal audit events with the key this process verifies them with.
        "PREFLIGHT_AUDIT_KEYS": ",".join(settings.PREFLIGHT_AUDIT_KEYS),
        "PREFLIGHT_VAR_DIR": str(tmp_path),
    }
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app",
            "worker",
            "--pool",
            "solo",
            "--queues",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    if proc.returncode not in (0, -15):
        print((tmp_path / "worker.log").read_text()[-3000:])
