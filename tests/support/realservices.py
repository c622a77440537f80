"""Start the real-convention services of ``tests/support/realsvc`` as real processes.

``run_real_service(name, **env)`` starts ``python -m tests.support.realsvc.NAME`` with the given
environment, reads the port the process bound on loopback, waits until it answers and yields
a ``RunningRealService``; the process is terminated when the block exits. Each service gets
fresh credentials. Fixtures: one module-scoped instance of each service.
"""

from __future__ import annotations

import os
import secrets
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
_START_TIMEOUT = 30.0


@dataclass
class RunningRealService:
    name: str
    base_url: str
    username: str
    password: str  # the password, API key or client secret the probe uses
    env: dict[str, str] = field(default_factory=dict, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10.0, **kwargs)  # type: ignore[arg-type]


def _read_port(proc: subprocess.Popen[bytes], name: str) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(b"PORT "):
                return int(line.split()[1])
            if not line and proc.poll() is not None:
                break
    raise RuntimeError(f"{name} did not announce its port (exit {proc.poll()}): {line!r}")


def _wait_answering(base_url: str, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} during startup")
        try:
            httpx.get(base_url + "/", timeout=1.0)  # any answer will do
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} at {base_url} did not answer in {_START_TIMEOUT} s")


@contextmanager
def run_real_service(name: str, **env: str) -> Iterator[RunningRealService]:
    """Start ``tests.support.realsvc.<name>``; ``env`` adds to (and overrides) its settings."""
    password = secrets.token_urlsafe(16)
    username = "probe@example.com"
    with tempfile.TemporaryDirectory(prefix=f"realsvc-{name}-") as tmp:
        settings = {
            "PROBE_EMAIL": username,
            "PROBE_PASSWORD": password,
            "API_KEY": password,
            "JWT_SECRET": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/service.db",
            **env,
        }
        if name == "widgets_app":
            username = ""
        if name == "token_server":
            username, password = settings["CLIENT_ID"], settings["CLIENT_SECRET"]
        child_env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
        log = Path(tmp, "service.log").open("wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", f"tests.support.realsvc.{name}"],
            cwd=tmp,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            port = _read_port(proc, name)
            base_url = f"http://127.0.0.1:{port}"
            _wait_answering(base_url, proc, name)
            yield RunningRealService(name, base_url, username, password, settings, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            if proc.returncode not in (0, -15):
                sys.stderr.write(Path(tmp, "service.log").read_text(errors="replace")[-4000:])


@pytest.fixture(scope="module")
def oauth_service() -> Iterator[RunningRealService]:
    with run_real_service("oauth_app") as service:
        yield service


@pytest.fixture(scope="module")
def users_service() -> Iterator[RunningRealService]:
    with run_real_service("users_app") as service:
        yield service


@pytest.fixture(scope="module")
def conduit_service() -> Iterator[RunningRealService]:
    with run_real_service("conduit_app") as service:
        yield service


@pytest.fixture(scope="module")
def widgets_service() -> Iterator[RunningRealService]:
    with run_real_service("widgets_app") as service:
        yield service
