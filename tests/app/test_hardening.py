"""Security headers, CSP without inline scripts, request size limit, login throttling,
session rotation, and Django's deployment checks under production settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def test_pages_carry_a_strict_csp_and_security_headers(lead) -> None:
    client = Client()
    client.force_login(lead)
    response = client.get("/services/")
    csp = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_template_has_an_inline_script_or_handler() -> None:
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attrs = match.group(1)
            if "src=" not in attrs and 'type="application/json"' not in attrs:
                offenders.append(f"{path}: {match.group(0)}")
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{path}: inline event handler")
    assert offenders == []


def test_an_oversized_body_gets_413_before_it_is_read(db, settings) -> None:
    settings.PREFLIGHT_MAX_REQUEST_BYTES = 1000
    response = Client().post("/login/", data="x" * 2000, content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/api/v1/services", "/services/", "/login/"])
def test_a_nul_byte_in_the_query_is_refused_not_a_server_error(lead, path) -> None:
    client = Client()
    client.force_login(lead)
    response = client.get(path, {"team": "a\x00b", "q": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert client.get(path, {"q": "orders"}).status_code == 200


@override_settings(AXES_ENABLED=True)
def test_repeated_failed_logins_are_throttled(lead) -> None:
    client = Client()
    for _ in range(4):
        assert client.post("/login/", {"username": "lead", "password": "wrong"}).status_code == 200
    # The fifth failure reaches AXES_FAILURE_LIMIT: locked, even with the right password.
    assert client.post("/login/", {"username": "lead", "password": "wrong"}).status_code == 429
    locked = client.post("/login/", {"username": "lead", "password": PASSWORD})
    assert locked.status_code == 429
    # Another user from the same address is not locked out.
    other = Client().post("/login/", {"username": "nobody", "password": "x"})
    assert other.status_code == 200


@override_settings(AXES_ENABLED=True)
def test_the_session_is_rotated_at_login(lead) -> None:
    client = Client()
    client.get("/login/")
    client.session["marker"] = "x"
    before = client.cookies.get("sessionid")
    response = client.post("/login/", {"username": "lead", "password": PASSWORD})
    assert response.status_code == 302
    after = client.cookies["sessionid"].value
    assert after and (before is None or before.value != after)


def _production_env(tmp_path: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PREFLIGHT_"))}
    env.update(
        {
            "PREFLIGHT_ENV": "production",
            "DJANGO_SECRET_KEY": "p" * 20 + "-this-is-only-a-test-key-" + "q" * 30,
            "DJANGO_ALLOWED_HOSTS": "preflight.example.com",
            "PREFLIGHT_SECRET_KEYS": Fernet.generate_key().decode(),
            "PREFLIGHT_AUDIT_KEYS": "a" * 16 + "-only-a-test-audit-key-" + "b" * 16,
            "PREFLIGHT_VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        }
    )
    return env


def test_deploy_checks_are_clean_with_production_settings(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_production_settings_hash_with_argon2_and_require_secrets(tmp_path) -> None:
    code = (
        "from django.conf import settings;"
        "print(settings.PASSWORD_HASHERS[0]);print(settings.SECURE_HSTS_SECONDS);"
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"
    )
    env = _production_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", f"import django;django.setup();{code}"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "app.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "31536000",
        "True",
        "True",
    ], done.stderr
    del env["DJANGO_SECRET_KEY"]
    missing = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "DJANGO_SECRET_KEY is required" in missing.stderr


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/login/"])
def test_probes_and_login_need_no_session(db, path) -> None:
    assert Client().get(path).status_code in (200, 503)
