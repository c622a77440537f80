"""Benchmark: the run page in a real browser, from the click on "Run validation" to the first
result on screen and to the verdict.

Everything is real and on loopback: the portal under `manage.py runserver` (as `make run`
starts it), a Celery worker as `make run` starts it (threads pool; Redis, a queue of the
benchmark's own), a SQLite database in a temporary directory, a fresh reference service per
round (its login limits would otherwise slow later rounds) and Debian's Chromium driven by
Playwright. Each round ticks the HTTP steps (smoke, functional, http: 17 checks) and clicks;
it prints:
- click -> the first result row on screen (target: <= 1.0 s);
- click -> the verdict on screen (target: <= 1.5 x the slowest check + 0.5 s);
- the slowest check of the run (its duration as the worker measured it).
Run with `make bench` (needs Redis at 127.0.0.1:6379 and /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.support.refservice import RunningReferenceService

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
STEPS = ("smoke", "functional", "http")
PASSWORD = secrets.token_urlsafe(16)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def _drop_queue(url: str, queue: str) -> None:
    """Leave nothing of the benchmark's own queue behind in Redis."""
    import redis

    client = redis.Redis.from_url(url)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(tmp: Path, broker: str) -> dict[str, str]:
    """One set of secrets and one database for the web server, the worker and this process."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "PREFLIGHT_ENV": "dev",
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "PREFLIGHT_VAR_DIR": str(tmp),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "PREFLIGHT_SECRET_KEYS": Fernet.generate_key().decode(),
        "PREFLIGHT_AUDIT_KEYS": secrets.token_urlsafe(32),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-run-page-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
    }


def _seed() -> None:
    """The lead, their team and a service (this process has Django set up)."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from portal import services
    from portal.models import Membership, Team
    from portal.templates_io import DEFAULT_TEMPLATE, load_template_file

    call_command("migrate", verbosity=0)
    template = services.template_import(data=load_template_file(DEFAULT_TEMPLATE)).template
    team = Team.objects.create(name="Payments", slug="payments")
    lead = User.objects.create_user(username="lead", password=PASSWORD)
    Membership.objects.create(user=lead, team=team)
    services.service_create(
        name="Orders API", slug="orders", team=team, template=template, tier=1, actor=lead
    )


def _point_at(ref: RunningReferenceService) -> None:
    from checks.services import profiles
    from portal.models import Service

    toml = (
        f'[service]\nname = "orders"\nbase_url = "{ref.base_url}"\n'
        f'[auth]\nusername = "{ref.username}"\n'
    )
    profiles.profile_save(
        service=Service.objects.get(slug="orders"),
        toml=toml,
        new_secrets={"password": ref.password, "otp_secret": ref.otp_secret},
        clear=[],
        actor=None,
    )


def _wait_answering(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the web server exited ({proc.returncode}) before answering")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def _round(page: Page, base: str) -> tuple[float, float, int, str, str]:
    """Click, then time the first result row and the verdict on screen (s)."""
    from checks.models import ValidationRun

    page.goto(f"{base}/services/orders/")
    for step in STEPS:
        page.check(f"input[name=steps][value={step}]")
    clicked = time.perf_counter()
    page.click("#run-validation")
    page.wait_for_selector("tr.result", timeout=60_000)
    first = time.perf_counter() - clicked
    page.wait_for_selector(
        "#run-live[data-status=passed], #run-live[data-status=failed], "
        "#run-live[data-status=error]",
        timeout=120_000,
    )
    verdict = time.perf_counter() - clicked
    run = ValidationRun.objects.latest("id")
    slowest = run.results.order_by("-duration_ms").first()
    assert slowest is not None
    return first, verdict, slowest.duration_ms, slowest.key, run.verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium package")
        return 1
    logging.disable(logging.INFO)
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    if not _redis_answers(broker):
        print(f"no Redis answers at {broker}: the worker needs one (set CELERY_BROKER_URL)")
        return 1
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-run-page-")))
        env = _environment(tmp, broker)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM beside Playwright
        import django

        django.setup()
        _seed()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        procs: list[subprocess.Popen[bytes]] = []

        def start(argv: list[str], name: str) -> subprocess.Popen[bytes]:
            log = stack.enter_context((tmp / f"{name}.log").open("wb"))
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
            procs.append(proc)
            return proc

        def stop() -> None:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()

        stack.callback(_drop_queue, broker, env["CELERY_TASK_DEFAULT_QUEUE"])
        stack.callback(stop)
        web = start(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], "web"
        )
        # The worker as `make run` starts it (scripts/run.py): threads, 8 runs in flight.
        celery = [sys.executable, "-m", "celery", "-A", "app", "worker", "--loglevel", "WARNING"]
        pool = ["--pool", "threads", "--concurrency", "8", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"]]
        start([*celery, *pool, "--without-gossip", "--without-mingle"], "worker")
        _wait_answering(f"{base}/health", web)

        from playwright.sync_api import sync_playwright

        from tests.support.refservice import run_reference_service

        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_page()
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", "lead")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)  # wherever sign-in lands

        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"Run page: click -> first result and -> verdict in Chromium, steps "
            f"{','.join(STEPS)}, {args.rounds} rounds (+1 warm-up); runserver + a Celery worker "
            f"(threads pool, concurrency 8) + Redis + SQLite; load average {load}"
        )
        print(
            f"{'round':>5} {'first ms':>9} {'verdict ms':>11} {'slowest ms':>11} "
            f"{'target ms':>10} {'slowest check':<24} run"
        )
        firsts, verdicts, margins = [], [], []
        for index in range(args.rounds + 1):
            with run_reference_service() as ref:
                _point_at(ref)
                first, verdict, slow, key, outcome = _round(page, base)
            target = 1.5 * slow / 1000 + 0.5
            label = "warm" if index == 0 else str(index)
            print(
                f"{label:>5} {first * 1000:>9.0f} {verdict * 1000:>11.0f} {slow:>11} "
                f"{target * 1000:>10.0f} {key:<24} {outcome}"
            )
            if index:
                firsts.append(first)
                verdicts.append(verdict)
                margins.append(verdict - target)
        first, verdict = statistics.median(firsts), statistics.median(verdicts)
        margin = statistics.median(margins)
        print(
            f"median click -> first result {first * 1000:.0f} ms "
            f"({'meets' if first <= 1.0 else 'MISSES'} the 1.0 s target); median click -> "
            f"verdict {verdict * 1000:.0f} ms, {abs(margin) * 1000:.0f} ms "
            f"{'under' if margin <= 0 else 'OVER'} 1.5 x slowest + 0.5 s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
