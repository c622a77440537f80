"""`make run`: the portal with demo data on embedded defaults.

Migrates the SQLite database, imports the default checklist template, loads demo data, then
starts the web server, a Celery worker and Celery beat, and prints the URL and demo logins.
The broker is Redis when one answers (CELERY_BROKER_URL or 127.0.0.1:6379), otherwise
Celery's filesystem transport, so no server is ever required. Ctrl-C stops everything.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("PREFLIGHT_VAR_DIR", ROOT / "var"))
PY = sys.executable
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")
# The demo services' staging URLs (portal/demo.py) point at these.
REF_HEALTHY_PORT, REF_FLAWED_PORT = "8101", "8102"
FLAWED = "cors_wildcard,no_rate_limit,offset_pagination"


def dev_env() -> dict[str, str]:
    """Persistent dev secrets live in var/dev.env (git-ignored), generated on first run; a
    secret added by a later release is appended to an existing file."""
    VAR.mkdir(parents=True, exist_ok=True)
    env_file = VAR / "dev.env"
    generators = {
        "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
        "PREFLIGHT_SECRET_KEYS": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # The HMAC key of the audit chain (never in the database).
        "PREFLIGHT_AUDIT_KEYS": lambda: secrets.token_urlsafe(32),
        # The local reference services' probe credentials (demo only).
        "REF_PROBE_PASSWORD": lambda: secrets.token_urlsafe(16),
        "REF_OTP_SECRET": lambda: base64.b32encode(os.urandom(20)).decode(),
        "REF_DRILL_TOKEN": lambda: secrets.token_urlsafe(16),
    }
    fd = os.open(env_file, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+") as fh:
        present = {line.split("=", 1)[0] for line in fh.read().splitlines() if "=" in line}
        for name, generate in generators.items():
            if name not in present:
                fh.write(f"{name}={generate()}\n")
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    env = {**os.environ, **{k: v for k, v in values.items() if k not in os.environ}}
    env.setdefault("PREFLIGHT_ENV", "dev")
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("LOG_FORMAT", "text")  # people read these logs; production keeps JSON
    env.setdefault("PREFLIGHT_BASE_URL", f"http://{HOST}:{PORT}")
    env["PREFLIGHT_VAR_DIR"] = str(VAR)
    env["PYTHONUNBUFFERED"] = "1"
    env["CELERY_BROKER_URL"] = pick_broker(env.get("CELERY_BROKER_URL", ""))
    return env


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def pick_broker(configured: str) -> str:
    candidate = configured or "redis://127.0.0.1:6379/0"
    if urlsplit(candidate).scheme.startswith("redis") and redis_answers(candidate):
        return candidate
    if configured and not urlsplit(configured).scheme.startswith("redis"):
        return configured
    print(f"No Redis answers at {candidate}: using the embedded filesystem broker in {VAR}/broker")
    return "filesystem://"


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def main() -> int:
    env = dev_env()
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "import_template")
    manage(env, "load_demo")
    manage(env, "load_demo_profiles")
    # A first signed checkpoint of the audit chain now; beat publishes the next ones.
    manage(env, "audit_checkpoint", "--quiet")
    logs = VAR / "logs"
    logs.mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, argv: list[str], child_env: dict[str, str] | None = None) -> None:
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        procs[name] = subprocess.Popen(argv, cwd=ROOT, env=child_env or env, stdout=log, stderr=log)

    # Two reference services for the demo services' staging: one healthy, one with flaws.
    ref_env = dict(env)
    if env["CELERY_BROKER_URL"].startswith("redis"):
        ref_env["REDIS_URL"] = env["CELERY_BROKER_URL"]
    reference = [PY, "-m", "examples.reference_service", "--host", "127.0.0.1"]
    start("ref-healthy", [*reference, "--port", REF_HEALTHY_PORT], ref_env)
    start("ref-flawed", [*reference, "--port", REF_FLAWED_PORT, "--flaw", FLAWED], ref_env)
    start("web", [PY, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"])
    celery = [PY, "-m", "celery", "-A", "app"]
    start("worker", [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"])
    start("beat", [*celery, "beat", "--loglevel", "INFO", "--schedule", str(VAR / "beat")])

    def stop(*_: object) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def on_term(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    logins = VAR / "demo-logins.txt"
    print()
    print(f"Preflight is up: http://{HOST}:{PORT}/   (broker: {env['CELERY_BROKER_URL']})")
    print(f"Logs: {logs}/{{web,worker,beat,ref-healthy,ref-flawed}}.log")
    print(
        f"Reference services: healthy http://127.0.0.1:{REF_HEALTHY_PORT} (orders), "
        f"flawed http://127.0.0.1:{REF_FLAWED_PORT} (inventory: {FLAWED})"
    )
    if logins.exists():
        print("Demo logins (username, password, role):")
        print(logins.read_text().rstrip())
    print("Ctrl-C stops the portal.")
    try:
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {logs}/{name}.log")
                    stop()
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
