"""The image's entrypoint and health probe, run for real on this machine: gunicorn serves the
portal as the container would (production settings, throwaway keys), the HEALTHCHECK script
judges real HTTP servers, and SIGTERM stops gunicorn gracefully."""

from __future__ import annotations

import base64
import http.server
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.deploy.files import ROOT

ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
PUBLIC_HOST = "preflight.example.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(tmp_path: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


def run_healthcheck(port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={**env, "PORT": str(port), "HEALTHCHECK_TIMEOUT": "2"},
        capture_output=True,
        text=True,
        timeout=15,
    )


@contextmanager
def answering(status: int, headers: dict[str, str] | None = None) -> Iterator[int]:
    """A loopback HTTP server answering every GET with `status`; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[int, dict[str, str], subprocess.Popen[bytes]]]:
    """`entrypoint.sh web` (the image's default command) with production settings."""
    port = free_port()
    env = {
        **base_env(tmp_path),
        "PREFLIGHT_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "PREFLIGHT_SECRET_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PREFLIGHT_AUDIT_KEYS": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": PUBLIC_HOST,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PREFLIGHT_VAR_DIR": str(tmp_path / "var"),
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "1",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not listen within 30 s")
        # The worker loads the application after the port listens: wait for its first answer
        # (bounded), so that the tests below time the probe, not the worker's start.
        httpx.get(f"http://127.0.0.1:{port}/health", headers={"Host": PUBLIC_HOST}, timeout=30)
        yield port, env, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_web_command_serves_health_through_gunicorn(
    gunicorn: tuple[int, dict[str, str], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port, env, proc = gunicorn
    response = httpx.get(
        f"http://127.0.0.1:{port}/health", headers={"Host": PUBLIC_HOST}, timeout=10
    )
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    # The image's HEALTHCHECK, with the container's environment, says healthy.
    result = run_healthcheck(port, env)
    assert result.returncode == 0, result.stderr
    # SIGTERM (docker stop / pod termination) ends gunicorn gracefully, exit status 0.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Listening at: http://127.0.0.1:" in log
    assert "GET /health" in log  # --access-logfile -


def test_a_host_django_refuses_makes_the_probe_fail(
    gunicorn: tuple[int, dict[str, str], subprocess.Popen[bytes]],
) -> None:
    port, env, _ = gunicorn
    result = run_healthcheck(port, {**env, "DJANGO_ALLOWED_HOSTS": "other.example.test"})
    assert result.returncode == 1
    assert "answered 400" in result.stderr


@pytest.mark.parametrize(
    ("status", "headers", "healthy"),
    [
        (200, {}, True),
        (500, {}, False),
        (503, {}, False),
        # A redirect (e.g. to HTTPS) is not followed off the container: unhealthy.
        (301, {"Location": "https://preflight.example.test/health"}, False),
    ],
)
def test_healthcheck_judges_the_status(
    status: int, headers: dict[str, str], healthy: bool, tmp_path: Path
) -> None:
    with answering(status, headers) as port:
        result = run_healthcheck(port, base_env(tmp_path))
    assert (result.returncode == 0) is healthy, result.stderr


def test_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    result = run_healthcheck(free_port(), base_env(tmp_path))
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


def test_healthcheck_picks_a_concrete_allowed_host() -> None:
    sys.path.insert(0, str(HEALTHCHECK.parent))
    try:
        from healthcheck import probe_host  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(HEALTHCHECK.parent))
    assert probe_host("*, .example.com,web") == "example.com"
    assert probe_host("") == "localhost"
    assert probe_host(" ,*") == "localhost"


def test_other_commands_run_as_given(tmp_path: Path) -> None:
    out = subprocess.run(
        ["sh", str(ENTRYPOINT), "python", "-c", "import sys; print('ran', sys.argv[1:])", "x"],
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ran ['x']"
