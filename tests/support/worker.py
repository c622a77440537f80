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


class WorkerFactory:
    """Start real worker processes (``start``); every one still running is stopped at
    teardown. ``pool``/``concurrency`` as on the command line; ``env`` adds settings."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "PREFLIGHT_ENV": "test",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "CELERY_SWEEP_QUEUE": settings.CELERY_SWEEP_QUEUE,
            # The worker must decrypt what this process encrypted.
            "PREFLIGHT_SECRET_KEYS": ",".join(settings.PREFLIGHT_SECRET_KEYS),
            # ...and seal audit events with the key this process verifies them with.
            "PREFLIGHT_AUDIT_KEYS": ",".join(settings.PREFLIGHT_AUDIT_KEYS),
            "PREFLIGHT_VAR_DIR": str(self.tmp_path),
            **(env or {}),
        }

    def start(
        self, *, pool: str = "solo", concurrency: int = 1, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        index = len(self.procs)
        environment = self.environment(env)
        log_path = self.tmp_path / ("worker.log" if not index else f"worker-{index}.log")
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "app",
                    "worker",
                    "--pool",
                    pool,
                    "--concurrency",
                    str(concurrency),
                    "--queues",
                    f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.CELERY_SWEEP_QUEUE}",
                    "--hostname",
                    f"test{index}-{os.getpid()}@%h",
                    "--loglevel",
                    "INFO",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((proc, log_path))
        return proc

    def start_beat(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Real Celery beat with the settings' schedule (the sweepers; intervals from
        ``env``), kept in a file of its own: no database scheduler to set up."""
        log_path = self.tmp_path / "beat.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "app",
                    "beat",
                    "--scheduler",
                    "celery.beat:PersistentScheduler",
                    "--schedule",
                    str(self.tmp_path / "beat-schedule"),
                    "--loglevel",
                    "INFO",
                ],
                cwd=ROOT,
                env=self.environment(env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((proc, log_path))
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return next(path for p, path in self.procs if p is proc).read_text(errors="replace")

    def stop_all(self) -> None:
        for proc, log_path in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if proc.returncode not in (0, -15, -9):
                print(log_path.read_text(errors="replace")[-3000:])
        _forget_taken_messages()


def _forget_taken_messages() -> None:
    """Drop what killed workers left in Redis' "unacked" hash for this suite's queues, so the
    broker does not put it back into dead queues when the visibility timeout ends."""
    import json

    import redis

    ours = {settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_SWEEP_QUEUE}
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        for tag, raw in client.hgetall("unacked").items():
            try:
                routing_key = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key in ours:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


@pytest.fixture
def worker_factory(tmp_path) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture
def worker(worker_factory: WorkerFactory) -> subprocess.Popen[bytes]:
    return worker_factory.start()
