"""With Redis down the portal keeps serving pages and sign-ins, and a run requested meanwhile
is kept and dispatched once the broker returns. A real redis-server on a private port is
stopped and restarted by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.test import Client
from django.utils import timezone

from checks.models import ValidationRun
from checks.services import runs
from tests.checks.conftest import profile_for
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self, port: int, workdir: str) -> None:
        self.port, self.workdir = port, workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: this test needs a real one")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(_free_port(), str(tmp_path))
    server.start()
    yield server
    server.stop()


def test_pages_sign_in_and_run_requests_survive_a_broker_outage(
    service, lead, reference_service, private_redis, settings
) -> None:
    settings.CELERY_BROKER_URL = private_redis.url
    profile_for(service, reference_service)
    private_redis.stop()

    client = Client()
    assert client.get("/login/").status_code == 200
    assert client.post("/login/", {"username": "lead", "password": PASSWORD}).status_code == 302
    assert client.get("/services/orders/").status_code == 200
    assert client.get("/ready").status_code == 503
    started = time.monotonic()
    response = client.post("/services/orders/runs/start/", {"steps": ["smoke"]})
    assert response.status_code == 302 and time.monotonic() - started < 3
    run = ValidationRun.objects.get()
    assert run.status == "queued" and run.dispatch_attempts == 1

    private_redis.start()
    counts = runs.sweep(
        now=timezone.now() + timedelta(seconds=settings.PREFLIGHT_DISPATCH_RETRY_S + 1)
    )
    assert counts["redispatched"] == 1
    queue = redis.Redis.from_url(private_redis.url).llen(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert queue == 1
    assert client.get("/ready").status_code == 200
