"""The command line: flaw names and secrets are validated loudly, and it really serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp
import pytest

from examples.reference_service import ConfigError, RefConfig

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.reference_service", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_unknown_flaw_exits_listing_the_valid_ones() -> None:
    result = run_cli("--flaw", "health_down,no_such_flaw", env={})
    assert result.returncode == 2
    assert "unknown flaw(s): no_such_flaw" in result.stderr
    assert "metrics_incomplete" in result.stderr and "offset_pagination" in result.stderr


def test_secrets_have_no_defaults() -> None:
    result = run_cli(env={"REF_OTP_SECRET": pyotp.random_base32()})
    assert result.returncode == 2 and "REF_PROBE_PASSWORD is required" in result.stderr
    with pytest.raises(ConfigError, match="REF_OTP_SECRET"):
        RefConfig.from_env({"REF_PROBE_PASSWORD": "pw"})
    with pytest.raises(ConfigError, match="base32"):
        RefConfig.from_env({"REF_PROBE_PASSWORD": "pw", "REF_OTP_SECRET": "not base32!"})


def test_the_cli_serves_with_flaws_from_flags_and_environment() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "REF_PROBE_PASSWORD": "pw",
        "REF_OTP_SECRET": pyotp.random_base32(),
        "REF_FLAWS": "no_request_id",
    }
    flags = ["--port", str(port), "--flaw", "health_down", "--version", "2.3.4"]
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.reference_service", *flags, "--log-level", "warning"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 500
        assert response.headers["X-App-Version"] == "2.3.4"
        assert "X-Request-ID" not in response.headers
    finally:
        process.terminate()
        process.wait(timeout=10)
