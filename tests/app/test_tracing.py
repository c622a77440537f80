"""Tracing turns on when an OTLP exporter is configured: a real OTLP/HTTP receiver on
loopback gets the Django request's spans from a real portal process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import app.wsgi  # configures tracing from OTEL_EXPORTER_OTLP_ENDPOINT
from django.test import Client
from opentelemetry import trace
print(Client().get('/health', HTTP_HOST='127.0.0.1').status_code)
trace.get_tracer_provider().force_flush()
"""


def test_spans_reach_the_configured_otlp_endpoint(tmp_path) -> None:
    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            **os.environ,
            "PREFLIGHT_ENV": "test",
            "PREFLIGHT_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "app.settings",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        }
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert done.stdout.strip() == "200", done.stderr
    paths = {path for path, _ in received}
    assert paths == {"/v1/traces"}
    payload = b"".join(body for _, body in received)
    assert b"preflight-web" in payload and b"/health" in payload


def test_without_an_exporter_tracing_stays_off() -> None:
    from app.tracing import configure_tracing

    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ
    assert configure_tracing("preflight-test") is False
