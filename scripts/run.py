"""`make run`: the portal with demo data on embedded defaults.

Migrates the SQLite database, imports the default checklist template, loads demo data, then
starts the web server, a Celery worker and Celery beat, two reference services as the demo
services' staging, and — when Debian's prometheus and prometheus-alertmanager are installed —
Prometheus and Alertmanager wired to the portal's webhook for the alert drill. Prints the URL
and demo logins. The broker is Redis when one answers (CELERY_BROKER_URL or 127.0.0.1:6379),
otherwise Celery's filesystem transport under var/broker, so no server is ever required.
Ctrl-C stops everything and exits 0.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("PREFLIGHT_VAR_DIR", ROOT / "var"))
PY = sys.executable
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")
# The demo services' staging URLs (load_demo) point at these; a var directory keeps the
# ports of its first run.
REF_HEALTHY_PORT = os.environ.setdefault("REF_HEALTHY_PORT", "8101")
REF_FLAWED_PORT = os.environ.setdefault("REF_FLAWED_PORT", "8102")
PROMETHEUS_PORT = os.environ.get("PROMETHEUS_PORT", "9090")
ALERTMANAGER_PORT = os.environ.get("ALERTMANAGER_PORT", "9093")
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
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


def monitoring_config(env: dict[str, str], token: str) -> Path:
    """Prometheus scrapes both reference services (label ``service`` = the demo service's
    slug, which the alert drill's default matcher asks for); a rule on their 5xx rate fires;
    Alertmanager posts to the portal's webhook with the token. Short intervals so the drill
    sees the alert in seconds, as in tests/e2e/test_alert_drill.py."""
    folder = VAR / "monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "webhook-token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    (folder / "alertmanager.yml").write_text(
        f"""route:
  receiver: preflight
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: preflight
    webhook_configs:
      - url: {env["PREFLIGHT_BASE_URL"]}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials_file: {token_file}}}
"""
    )
    (folder / "rules.yml").write_text(
        """groups:
  - name: preflight-demo
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: sum by (service) (rate(http_requests_total{status="500"}[5s])) > 0
        labels: {severity: page}
        annotations: {summary: "5xx from {{ $labels.service }}"}
"""
    )
    (folder / "prometheus.yml").write_text(
        f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{folder / "rules.yml"}]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{ALERTMANAGER_PORT}"]}}]}}]
scrape_configs:
  - job_name: reference
    static_configs:
      - {{targets: ["127.0.0.1:{REF_HEALTHY_PORT}"], labels: {{service: orders}}}}
      - {{targets: ["127.0.0.1:{REF_FLAWED_PORT}"], labels: {{service: inventory}}}}
"""
    )
    return folder


def own_the_terminal() -> tuple[Callable[[], None], Callable[[], bool]]:
    """Make this script the terminal's foreground process group; returns the undo, and a
    test for the terminal having hung up (its window closed).

    Under `make run`, make shares the terminal's process group, so Ctrl-C reaches make too,
    and make then dies of SIGINT (exit 130) whatever this script returns. With its own
    foreground group, Ctrl-C reaches this script alone: it stops its children and exits 0,
    and so does make. The price: when the terminal closes, the hang-up reaches the shell and
    make's group, not this one, and make then waits for this script. So the script watches the
    terminal itself (`watch_hangup`). Nothing to do without a terminal (or when not in the
    foreground: `nohup make run &` keeps running, as asked)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return (lambda: None), (lambda: False)
    try:
        before = os.tcgetpgrp(fd)
        if before != os.getpgrp():
            os.close(fd)
            return (lambda: None), (lambda: False)
        os.setpgid(0, 0)
        # A background group that sets the foreground group gets SIGTTOU: ignore it meanwhile.
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(fd, os.getpgrp())
        signal.signal(signal.SIGTTOU, previous)
    except OSError:
        os.close(fd)
        return (lambda: None), (lambda: False)

    def hung_up() -> bool:
        try:
            os.tcgetpgrp(fd)  # a hung-up terminal answers EIO (or ENOTTY) from now on
        except OSError:
            return True
        return False

    def give_back() -> None:
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(fd, before)
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, previous)
            os.close(fd)

    return give_back, hung_up


def watch_hangup(hung_up: Callable[[], bool]) -> threading.Event:
    """Once the terminal hangs up, send this process SIGHUP, which stops the portal as Ctrl-C
    does (a daemon thread, checking twice a second). Set the returned event to stop watching
    (before the terminal is given back and its descriptor closed)."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            if hung_up():
                os.kill(os.getpid(), signal.SIGHUP)
                return

    threading.Thread(target=watch, name="hangup-watch", daemon=True).start()
    return done


def wait_for_web(web: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Return once the web server accepts connections (its system checks take a moment), so
    the URL printed next opens; or when it has exited or the time is up (``serve`` says why)."""
    deadline = time.monotonic() + timeout
    while web.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, int(PORT)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)


def main() -> int:
    give_back, hung_up = own_the_terminal()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    optional: set[str] = set()

    def stop(*_: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup's choice stands
        signal.signal(signal.SIGHUP, on_term)  # the terminal closed: stop as for Ctrl-C
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (as a background
    # job of a shell without job control is).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    watching = watch_hangup(hung_up)
    try:
        return serve(procs, optional)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):  # a hung-up terminal refuses writes
            print("\nStopping…")
        return 0
    finally:
        stop()
        watching.set()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # stopping already; nothing to interrupt
        give_back()


def serve(procs: dict[str, subprocess.Popen[bytes]], optional: set[str]) -> int:
    env = dev_env()
    monitored = bool(PROMETHEUS and ALERTMANAGER)
    if monitored and not env.get("PREFLIGHT_ALERTMANAGER_TOKEN"):
        # Only with Alertmanager running: without the token the alert drill skips, saying so.
        env["PREFLIGHT_ALERTMANAGER_TOKEN"] = secrets.token_urlsafe(24)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "import_template")
    manage(env, "load_demo")
    manage(env, "load_demo_profiles")
    manage(env, "load_demo_campaigns")  # levels and the tier-1 campaign (campaigns/demo.py)
    # A first signed checkpoint of the audit chain now; beat publishes the next ones.
    manage(env, "audit_checkpoint", "--quiet")
    logs = VAR / "logs"
    logs.mkdir(exist_ok=True)

    def start(name: str, argv: list[str], child_env: dict[str, str] | None = None) -> None:
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        # Own process groups: Ctrl-C reaches this script, which stops the children in turn.
        procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=child_env or env, stdout=log, stderr=log, process_group=0
        )

    # Two reference services for the demo services' staging: one healthy, one with flaws.
    ref_env = {**env, "REF_LOGIN_LIMIT": env.get("REF_LOGIN_LIMIT", "40")}
    if env["CELERY_BROKER_URL"].startswith("redis"):
        ref_env["REDIS_URL"] = env["CELERY_BROKER_URL"]
    reference = [PY, "-m", "examples.reference_service", "--host", "127.0.0.1"]
    start("ref-healthy", [*reference, "--port", REF_HEALTHY_PORT], ref_env)
    start("ref-flawed", [*reference, "--port", REF_FLAWED_PORT, "--flaw", FLAWED], ref_env)
    start("web", [PY, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"])
    celery = [PY, "-m", "celery", "-A", "app"]
    # The runs' queue and the sweepers' own (app/settings.py, CELERY_SWEEP_QUEUE).
    runs_queue = env.get("CELERY_TASK_DEFAULT_QUEUE") or "celery"
    queues = f"{runs_queue},{env.get('CELERY_SWEEP_QUEUE') or runs_queue + '-sweep'}"
    # Runs wait on the network: many in flight per process, in threads (README, "Scaling").
    worker = ["worker", "--loglevel", "INFO", "--pool", "threads", "--concurrency", "8"]
    start("worker", [*celery, *worker, "-Q", queues])
    start("beat", [*celery, "beat", "--loglevel", "INFO", "--schedule", str(VAR / "beat")])
    if monitored:
        assert PROMETHEUS and ALERTMANAGER
        folder = monitoring_config(env, env["PREFLIGHT_ALERTMANAGER_TOKEN"])
        start(
            "alertmanager",
            [
                ALERTMANAGER,
                f"--config.file={folder / 'alertmanager.yml'}",
                f"--storage.path={folder / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{ALERTMANAGER_PORT}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
        )
        start(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'prometheus-data'}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
                "--rules.alert.resend-delay=1s",
                "--log.level=warn",
            ],
        )
        optional.update({"alertmanager", "prometheus"})
    logins = VAR / "demo-logins.txt"
    wait_for_web(procs["web"])
    print()
    print(f"Preflight is up: http://{HOST}:{PORT}/   (broker: {env['CELERY_BROKER_URL']})")
    print(f"Logs: {logs}/{{{','.join(procs)}}}.log")
    print(
        f"Reference services: healthy http://127.0.0.1:{REF_HEALTHY_PORT} (orders), "
        f"flawed http://127.0.0.1:{REF_FLAWED_PORT} (inventory: {FLAWED})"
    )
    if monitored:
        print(
            f"Prometheus http://127.0.0.1:{PROMETHEUS_PORT}, Alertmanager "
            f"http://127.0.0.1:{ALERTMANAGER_PORT}, posting to /hooks/alertmanager"
        )
    else:
        print(
            "Prometheus/Alertmanager not installed (Debian: prometheus, prometheus-alertmanager): "
            "the alert drill skips, naming PREFLIGHT_ALERTMANAGER_TOKEN."
        )
    if logins.exists():
        print("Demo logins (username, password, role):")
        print(logins.read_text().rstrip())
    print("A tour of the demo: README.md. Ctrl-C stops the portal.")
    while True:
        for name, proc in list(procs.items()):
            if proc.poll() is None:
                continue
            if name in optional:
                print(f"{name} exited with {proc.returncode} (see {logs}/{name}.log); going on")
                procs.pop(name)
                continue
            print(f"{name} exited with {proc.returncode}; see {logs}/{name}.log")
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
