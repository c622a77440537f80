"""Benchmark: the nightly sweep of a fleet of services (`make bench-fleet`; printed figures,
not a timed test).

N services (default 500) run on loopback in one process: each has its own address
127.77.x.y and its own reference-service instance (examples/reference_service), one in five
with a flaw that one check must catch. Each gets a staging profile and the default nightly
schedule, as `profile_save` sets it; then every service's schedule is fired the way beat
fires it (django-celery-beat's scheduler, `apply_async` of each entry), all at once: the
worst case, a whole night's schedules arriving together. Real worker processes (W x C: pool
and concurrency as given) on real Redis (db 13, a queue of this run's own) and a database of
the benchmark's own (PostgreSQL if one answers at 127.0.0.1:5432, else SQLite) do the work;
real beat sends the sweepers. The outbound allowlist admits the fleet's addresses only
(127.77.0.0/16), for this benchmark's processes alone.

Printed: wall time from the first schedule fired to the last run finished; the ideal (the sum
over runs of each run's slowest check, divided by the runs in flight, W x C); their ratio;
runs per second; each worker's RSS at start, end and peak; database rows written per second
(results, runs, audit events); runs that failed unexpectedly, were lost or ran twice.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLEET_NET = "127.77.0.0/16"
# One service in FLAWED_EVERY has one of these flaws: each makes exactly one check fail.
FLAWS = ["cors_wildcard", "no_security_headers", "jwt_no_exp", "plain_errors", "health_down"]
FLAWED_EVERY = 5
PASSWORD = "fleet-probe-" + "p" * 12
OTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits, as RFC 4226 asks
DRILL_TOKEN = "fleet-drill-token"
PG_URL = "postgres://postgres@127.0.0.1:5432/preflight_fleet_bench"


def host_of(index: int) -> str:
    return f"127.77.{index // 250}.{index % 250 + 1}"


def flaw_of(index: int) -> str | None:
    return FLAWS[(index // FLAWED_EVERY) % len(FLAWS)] if index % FLAWED_EVERY == 0 else None


# --- the fleet: one process, one reference-service instance per address ---


def serve(count: int, port: int) -> None:
    logging.disable(logging.CRITICAL)  # the reference service logs every request
    import uvicorn

    from examples.reference_service import RefConfig, create_app

    apps: dict[str, Any] = {}

    def app_for(host: str) -> Any:
        if host not in apps:
            index = int(host.split(".")[2]) * 250 + int(host.split(".")[3]) - 1
            flaw = flaw_of(index)
            apps[host] = create_app(
                RefConfig(
                    probe_password=PASSWORD,
                    otp_secret=OTP_SECRET,
                    drill_token=DRILL_TOKEN,
                    flaws=frozenset([flaw] if flaw else []),
                    login_limit=40,
                )
            )
        return apps[host]

    async def fleet(scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        await app_for(scope["server"][0])(scope, receive, send)

    sockets = []
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_of(index), port))
        sockets.append(sock)
    config = uvicorn.Config(
        fleet, lifespan="off", log_level="critical", access_log=False, backlog=2048
    )
    server = uvicorn.Server(config)
    print("fleet listening", flush=True)
    asyncio.run(server.serve(sockets=sockets))


# --- the benchmark ---


def _database(url: str | None, tmp: Path) -> str:
    if url:
        return url
    try:
        import psycopg

        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=2
        ) as conn:
            conn.execute("DROP DATABASE IF EXISTS preflight_fleet_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE preflight_fleet_bench")
        return PG_URL
    except Exception as exc:  # any failure: fall back to SQLite
        print(f"PostgreSQL unavailable ({exc}); using SQLite")
        return f"sqlite:///{tmp / 'fleet.sqlite3'}"


def _rss_mb(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        total = 0
        for p in procs:
            try:
                if "locust" not in " ".join(p.cmdline()):
                    total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 1e6
    except psutil.NoSuchProcess:
        return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (Locust excluded)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total
    except psutil.NoSuchProcess:
        return 0.0


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--pool", default="threads", help="celery pool (threads, prefork, ...)")
    parser.add_argument("--concurrency", type=int, default=8, help="runs in flight per worker")
    parser.add_argument("--database-url", default=None, help="default: a fresh PG database")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the logs' folder")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.services, args.port)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="preflight-fleet-"))
    queue = f"fleet-bench-{os.getpid()}"
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "PREFLIGHT_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "DATABASE_URL": _database(args.database_url, tmp),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13"),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CELERY_SWEEP_QUEUE": f"{queue}-sweep",
        "PREFLIGHT_SECRET_KEYS": Fernet.generate_key().decode(),
        "PREFLIGHT_AUDIT_KEYS": secrets.token_urlsafe(32),
        # The fleet's addresses only: this benchmark's processes, nobody else's settings.
        "PREFLIGHT_OUTBOUND_ALLOWLIST": FLEET_NET,
        "PREFLIGHT_VAR_DIR": str(tmp),
        "LOG_LEVEL": "WARNING",
        "PREFLIGHT_RUNS_PER_HOST": os.environ.get("PREFLIGHT_RUNS_PER_HOST", "2"),
    }
    os.environ.update(env)
    import django

    django.setup()
    from celery import current_app
    from django.core.management import call_command
    from django.db.models import Max
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

    from checks.models import CheckResult, ValidationRun
    from checks.services import profiles
    from portal import services
    from portal.models import AuditEvent, Team
    from portal.templates_io import DEFAULT_TEMPLATE, load_template_file

    procs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    try:
        call_command("migrate", verbosity=0)
        template = services.template_import(data=load_template_file(DEFAULT_TEMPLATE)).template
        team = Team.objects.create(name="Fleet", slug="fleet")
        warm = args.workers * args.concurrency  # one warm-up run per slot, not measured
        total = args.services + warm
        print(f"database {env['DATABASE_URL'].split('@')[-1]}; creating {args.services} services "
              f"(+{warm} for the warm-up)")  # fmt: skip
        for index in range(total):
            slug = f"svc-{index:04d}" if index < args.services else f"warm-{index:04d}"
            service = services.service_create(
                name=f"Service {index}", slug=slug, team=team, template=template
            )
            profiles.profile_save(
                service=service,
                toml=(
                    f'[service]\nname = "{slug}"\nbase_url = "http://{host_of(index)}:{args.port}"'
                    '\n[auth]\nusername = "probe"\n[limits]\nlogin_attempts = 40\n'
                ),
                new_secrets={"password": PASSWORD, "otp_secret": OTP_SECRET},
                clear=[],
                actor=None,
            )
            if (index + 1) % 100 == 0:
                print(f"  {index + 1} services ({time.monotonic() - started:.0f} s)", flush=True)

        def spawn(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
            log = (tmp / f"{name}.log").open("wb")
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            procs.append(proc)
            return proc

        py = sys.executable
        fleet = spawn("fleet", [py, __file__, "--serve", "--services", str(total), "--port",
                        str(args.port)])  # fmt: skip
        import httpx

        last = f"http://{host_of(total - 1)}:{args.port}/health"
        _wait_for(lambda: _answers(httpx, last), 120, "the fleet to listen")
        celery = [py, "-m", "celery", "-A", "app"]
        worker_args = ["--pool", args.pool, "--concurrency", str(args.concurrency),
                       "--queues", f"{queue},{queue}-sweep", "--loglevel", "WARNING",
                       "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        names = [f"fleet{n}-{os.getpid()}@%h" for n in range(args.workers)]
        workers = [
            spawn(f"worker-{n}", [*celery, "worker", "-n", name, *worker_args])
            for n, name in enumerate(names)
        ]
        spawn("beat", [py, "-m", "celery", "-A", "app", "beat", "--scheduler",
                       "celery.beat:PersistentScheduler", "--schedule", str(tmp / "beat-schedule"),
                       "--loglevel", "WARNING"])  # fmt: skip
        time.sleep(8)  # workers import the app and connect
        for n, worker in enumerate(workers):
            if worker.poll() is not None:
                print((tmp / f"worker-{n}.log").read_text()[-3000:])
                raise SystemExit("a worker did not start")
        rss_cold = [_rss_mb(w.pid) for w in workers]
        # Warm-up: one run per slot (imports, connections, thread pools), then measure.
        scheduler = DatabaseScheduler(app=current_app, lazy=True)
        schedules = PeriodicTask.objects.filter(task="checks.tasks.scheduled_validation")

        def fire(prefix: str) -> int:
            fired = 0
            with current_app.producer_or_acquire() as producer:
                for task in schedules.filter(name__startswith=f"validate:{prefix}"):
                    entry = ModelEntry(task, app=current_app)
                    scheduler.apply_async(entry, producer, advance=False)
                    fired += 1
            return fired

        fire("warm-")
        warmed = ValidationRun.objects.filter(
            service__slug__startswith="warm-", status__in=ValidationRun.FINISHED
        )
        _wait_for(lambda: warmed.count() >= warm, 300, "the warm-up runs")
        rss_start = [_rss_mb(w.pid) for w in workers]
        rss_peak = list(rss_start)
        rows_before = _rows(CheckResult, ValidationRun, AuditEvent)
        cpu_before = [_cpu_s(w.pid) for w in workers], _cpu_s(fleet.pid)
        load_before = os.getloadavg()

        # Fire every service's schedule the way beat does.
        t0 = time.monotonic()
        fired = fire("svc-")
        print(f"fired {fired} schedules in {time.monotonic() - t0:.1f} s")
        measured = ValidationRun.objects.filter(service__slug__startswith="svc-")
        deadline = t0 + args.timeout
        last_print = t0
        finished = 0
        while time.monotonic() < deadline:
            finished = measured.filter(status__in=ValidationRun.FINISHED).count()
            rss_peak = [max(p, _rss_mb(w.pid)) for p, w in zip(rss_peak, workers, strict=True)]
            if finished >= args.services:
                break
            if time.monotonic() - last_print >= 10:
                last_print = time.monotonic()
                print(
                    f"  {time.monotonic() - t0:6.0f} s: {finished}/{args.services} finished, "
                    f"RSS {', '.join(f'{_rss_mb(w.pid):.0f}' for w in workers)} MB, "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            time.sleep(0.5)
        wall = time.monotonic() - t0
        rss_end = [_rss_mb(w.pid) for w in workers]
        cpu_workers = sum(_cpu_s(w.pid) for w in workers) - sum(cpu_before[0])
        cpu_fleet = _cpu_s(fleet.pid) - cpu_before[1]
        rows = _rows(CheckResult, ValidationRun, AuditEvent) - rows_before

        runs = measured
        slowest = runs.annotate(slow=Max("results__duration_ms")).values_list("slow", flat=True)
        in_flight = args.workers * args.concurrency
        ideal = sum((s or 0) for s in slowest) / 1000 / in_flight
        by_service: dict[int, int] = {}
        for service_id in runs.values_list("service_id", flat=True):
            by_service[service_id] = by_service.get(service_id, 0) + 1
        duplicated = (
            sum(n - 1 for n in by_service.values() if n > 1) + runs.filter(executions__gt=1).count()
        )
        lost = args.services - runs.filter(status__in=ValidationRun.FINISHED).count()
        unexpected = []
        for run in runs.select_related("service"):
            index = int(run.service.slug.split("-")[1])
            expected = "failed" if flaw_of(index) else "passed"
            if run.finished and run.status != expected:
                unexpected.append(f"{run.service.slug} ({flaw_of(index) or 'healthy'}): "
                                  f"{run.verdict} {run.message}")  # fmt: skip
        statuses = {s: runs.filter(status=s).count() for s in ValidationRun.Status.values}
        load_after = os.getloadavg()

        print()
        print(f"fleet sweep: {args.services} services, {args.workers} workers x "
              f"{args.pool} pool x {args.concurrency} = {in_flight} runs in flight")  # fmt: skip
        print(f"  load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f} "
              f"on {os.cpu_count()} CPUs (shared)")  # fmt: skip
        print(f"  wall            {wall:8.1f} s")
        print(f"  ideal           {ideal:8.1f} s  (sum of slowest checks / {in_flight})")
        ratio = wall / ideal if ideal else float("inf")
        print(f"  wall / ideal    {ratio:8.2f}    ({'meets' if ratio <= 1.5 else 'MISSES'} 1.5)")
        print(f"  runs / s        {args.services / wall:8.2f}")
        rss = zip(rss_cold, rss_start, rss_end, rss_peak, strict=True)
        for n, (cold, a, b, c) in enumerate(rss):
            growth = b / a if a else float("inf")
            print(f"  worker {n} RSS    start {a:.0f} MB (warm; {cold:.0f} MB at boot), "
                  f"end {b:.0f} MB ({growth:.2f}x, {'meets' if growth <= 1.2 else 'MISSES'} 1.2), "
                  f"peak {c:.0f} MB")  # fmt: skip
        print(f"  CPU used        workers {cpu_workers:.0f} s, fleet services {cpu_fleet:.0f} s "
              f"({(cpu_workers + cpu_fleet) / wall:.2f} CPUs busy over the wall; PostgreSQL, "
              f"Redis and other agents' work not counted)")  # fmt: skip
        print(f"  DB rows written {rows:8d}    ({rows / wall:.0f} rows/s: results, runs, audit)")
        print(f"  run statuses    {statuses}")
        print(f"  failures        {len(unexpected)} (runs whose status is not the expected one)")
        for line in unexpected[:10]:
            print(f"    {line}")
        print(f"  lost runs       {lost}")
        print(f"  duplicated      {duplicated} (second runs of a service, or runs executed twice)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        _drop_queues(env["CELERY_BROKER_URL"], queue)
        if args.keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _answers(httpx: Any, url: str) -> bool:
    try:
        return bool(httpx.get(url, timeout=2).status_code == 200)
    except httpx.HTTPError:
        return False


def _rows(*models: Any) -> int:
    return sum(model.objects.count() for model in models)


def _drop_queues(url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.delete(queue, f"{queue}-sweep")
    client.close()


if __name__ == "__main__":
    sys.exit(main())
